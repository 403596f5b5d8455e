//! Captions: a scene's [`Description`] in words, with the template and synonyms chosen by
//! the scene's wording seed, so a collection reads like varied human captions while each
//! caption still names every attribute.
//!
//! [`partial_caption`] names only some attributes ("green hearts", "two hearts on a
//! striped background"), as people type queries: a model trained on full captions alone
//! places such short texts near whatever shares a word, often the background's colour.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seeded::below;

use crate::scene::{Colour, Count, Description, Position, Scene, Shape, Size, Texture, pick};

/// The caption of `scene`, e.g. "two small red stars on the left on a striped blue
/// background".
pub fn caption(scene: &Scene) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(scene.wording);
    let d: &Description = &scene.description;
    let count = pick(&mut rng, count_words(d.count));
    let size = pick(&mut rng, size_words(d.size));
    let shape = shape_word(d.shape, d.count != Count::One);
    let position = pick(&mut rng, position_words(d.position));
    let texture = pick(&mut rng, texture_words(d.background.texture));
    let background = colour_word(d.background.colour);
    let things = format!("{count} {size} {} {shape}", colour_word(d.colour));
    match pick(&mut rng, &[0u8, 1, 2, 3]) {
        0 => format!("{things} {position} on a {texture} {background} background"),
        1 => format!("{things} {position}, {texture} {background} background"),
        2 => format!("a {texture} {background} background with {things} {position}"),
        _ => format!("a picture of {things} {position} on a {texture} {background} background"),
    }
}

/// Variant `variant` of a caption of `scene` that names a subset of its attributes: the
/// shapes' colour and kind most often (what a query names first), then with one more
/// attribute, the shape or the colour alone, or the background alone. Seeded by the
/// scene's wording seed and `variant`, so the same pair gives the same text.
pub fn partial_caption(scene: &Scene, variant: u64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(scene.wording);
    rng.set_stream(variant + 1);
    let d: &Description = &scene.description;
    // (weight, the attributes named): count, size, colour, shape, position, background.
    const MENTIONS: [(u32, Mention); 10] = [
        (30, Mention::new(false, false, true, true, false, false)),
        (12, Mention::new(false, false, false, true, false, false)),
        (10, Mention::new(false, false, true, false, false, false)),
        (8, Mention::new(true, false, true, true, false, false)),
        (6, Mention::new(true, false, false, true, false, false)),
        (6, Mention::new(false, true, true, true, false, false)),
        (8, Mention::new(false, false, true, true, true, false)),
        (10, Mention::new(false, false, true, true, false, true)),
        (5, Mention::new(false, false, false, true, false, true)),
        (5, Mention::new(false, false, false, false, false, true)),
    ];
    let total: u32 = MENTIONS.iter().map(|(weight, _)| weight).sum();
    let mut draw = below(&mut rng, total);
    let mention = MENTIONS
        .iter()
        .find(|(weight, _)| {
            let hit = draw < *weight;
            draw = draw.saturating_sub(*weight);
            hit
        })
        .map_or(MENTIONS[0].1, |(_, mention)| *mention);

    let colour = colour_word(d.colour);
    let mut adjectives = Vec::new();
    if mention.size {
        adjectives.push(pick(&mut rng, size_words(d.size)));
    }
    if mention.colour {
        adjectives.push(colour);
    }
    let things = if mention.shape {
        let adjectives: String = adjectives.iter().map(|a| format!("{a} ")).collect();
        if mention.count {
            let plural = d.count != Count::One;
            let count = pick(&mut rng, count_words(d.count));
            format!("{count} {adjectives}{}", shape_word(d.shape, plural))
        } else if d.count == Count::One && below(&mut rng, 2) == 0 {
            format!("a {adjectives}{}", shape_word(d.shape, false))
        } else {
            // A query names the kind in the plural whatever the count ("green hearts").
            format!("{adjectives}{}", shape_word(d.shape, true))
        }
    } else if mention.colour {
        let words = [
            format!("{colour} shapes"),
            format!("something {colour}"),
            format!("{colour} things"),
        ];
        words[below(&mut rng, 3) as usize].clone()
    } else {
        String::new()
    };
    let mut text = things;
    if mention.position {
        let position = pick(&mut rng, position_words(d.position));
        text = format!("{text} {position}");
    }
    if mention.background {
        let texture = pick(&mut rng, texture_words(d.background.texture));
        let colour = colour_word(d.background.colour);
        let background = match below(&mut rng, 3) {
            0 => format!("{texture} background"),
            1 => format!("{colour} background"),
            _ => format!("{texture} {colour} background"),
        };
        text = if text.is_empty() {
            format!("a {background}")
        } else {
            format!("{text} on a {background}")
        };
    }
    text
}

/// The attributes a [`partial_caption`] names.
#[derive(Clone, Copy)]
struct Mention {
    count: bool,
    size: bool,
    colour: bool,
    shape: bool,
    position: bool,
    background: bool,
}

impl Mention {
    const fn new(
        count: bool,
        size: bool,
        colour: bool,
        shape: bool,
        position: bool,
        background: bool,
    ) -> Self {
        Self {
            count,
            size,
            colour,
            shape,
            position,
            background,
        }
    }
}

fn count_words(count: Count) -> &'static [&'static str] {
    match count {
        Count::One => &["a", "one", "a single"],
        Count::Two => &["two"],
        Count::Three => &["three"],
        Count::Four => &["four"],
    }
}

fn size_words(size: Size) -> &'static [&'static str] {
    match size {
        Size::Small => &["small", "little", "tiny"],
        Size::Large => &["large", "big"],
    }
}

/// The noun for `shape`, singular or plural.
pub fn shape_word(shape: Shape, plural: bool) -> &'static str {
    let (one, many) = match shape {
        Shape::Circle => ("circle", "circles"),
        Shape::Square => ("square", "squares"),
        Shape::Triangle => ("triangle", "triangles"),
        Shape::Star => ("star", "stars"),
        Shape::Heart => ("heart", "hearts"),
        Shape::Cross => ("cross", "crosses"),
    };
    if plural { many } else { one }
}

/// The adjective for `colour`.
pub fn colour_word(colour: Colour) -> &'static str {
    match colour {
        Colour::Red => "red",
        Colour::Green => "green",
        Colour::Blue => "blue",
        Colour::Yellow => "yellow",
        Colour::Purple => "purple",
        Colour::Orange => "orange",
        Colour::White => "white",
        Colour::Black => "black",
    }
}

fn position_words(position: Position) -> &'static [&'static str] {
    match position {
        Position::Left => &["on the left", "at the left"],
        Position::Right => &["on the right", "at the right"],
        Position::Top => &["at the top", "along the top"],
        Position::Bottom => &["at the bottom", "along the bottom"],
        Position::Centre => &["in the centre", "in the middle"],
    }
}

fn texture_words(texture: Texture) -> &'static [&'static str] {
    match texture {
        Texture::Plain => &["plain"],
        Texture::Striped => &["striped"],
        Texture::Dotted => &["dotted", "polka-dot"],
        Texture::Checkered => &["checkered", "checked"],
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::scene::generate;

    #[test]
    fn a_caption_names_every_attribute() {
        for scene in generate(2, 0..500) {
            let d = scene.description;
            let text = caption(&scene);
            let words: Vec<&str> = text.split([' ', ',']).collect();
            let has_any = |options: &[&str]| options.iter().any(|o| text.contains(o));
            assert!(
                words.contains(&shape_word(d.shape, d.count != Count::One)),
                "{text}"
            );
            assert!(words.contains(&colour_word(d.colour)), "{text}");
            assert!(has_any(size_words(d.size)), "{text}");
            assert!(has_any(position_words(d.position)), "{text}");
            assert!(has_any(texture_words(d.background.texture)), "{text}");
            assert!(
                text.contains(&format!("{} background", colour_word(d.background.colour))),
                "{text}"
            );
            if d.count != Count::One {
                assert!(words.contains(&count_words(d.count)[0]), "{text}");
            }
        }
    }

    #[test]
    fn a_partial_caption_names_only_true_attributes() {
        for scene in generate(3, 0..400) {
            let d = scene.description;
            for variant in 0..3 {
                let text = partial_caption(&scene, variant);
                assert_eq!(text, partial_caption(&scene, variant));
                let words: Vec<&str> = text.split(' ').collect();
                for colour in Colour::ALL {
                    if words.contains(&colour_word(colour)) {
                        assert!(
                            colour == d.colour || colour == d.background.colour,
                            "{text}"
                        );
                    }
                }
                for shape in Shape::ALL {
                    if text.contains(shape_word(shape, false)) {
                        assert_eq!(shape, d.shape, "{text}");
                    }
                }
                assert!(!text.is_empty() && !text.starts_with(' '), "{text:?}");
                assert!(!text.contains("  "), "{text:?}");
            }
        }
    }

    #[test]
    fn partial_captions_are_mostly_colour_and_shape_and_sometimes_less() {
        let scenes = generate(4, 0..2000);
        let texts: Vec<String> = scenes.iter().map(|s| partial_caption(s, 0)).collect();
        let two_words = texts.iter().filter(|t| t.split(' ').count() == 2).count();
        let one_word = texts.iter().filter(|t| !t.contains(' ')).count();
        let background_only = texts
            .iter()
            .filter(|t| {
                t.starts_with("a ")
                    && t.ends_with("background")
                    && !Shape::ALL.iter().any(|&s| t.contains(shape_word(s, false)))
            })
            .count();
        assert!((400..900).contains(&two_words), "{two_words}");
        assert!((100..400).contains(&one_word), "{one_word}");
        assert!((40..200).contains(&background_only), "{background_only}");
        let varied = scenes
            .iter()
            .filter(|s| partial_caption(s, 0) != partial_caption(s, 1))
            .count();
        assert!(varied > 1500, "{varied}");
    }

    #[test]
    fn equal_descriptions_are_worded_in_several_ways() {
        let mut scene = generate(2, 0..1)[0];
        let wordings: HashSet<String> = (0..40)
            .map(|wording| {
                scene.wording = wording;
                caption(&scene)
            })
            .collect();
        assert!(wordings.len() >= 4, "{wordings:?}");
    }

    #[test]
    fn the_example_caption() {
        let mut scene = generate(2, 0..1)[0];
        scene.description = Description {
            shape: Shape::Star,
            colour: Colour::Red,
            size: Size::Small,
            position: Position::Left,
            count: Count::Two,
            background: crate::scene::Background {
                texture: Texture::Striped,
                colour: Colour::Blue,
            },
        };
        let text = (0..40)
            .map(|wording| {
                scene.wording = wording;
                caption(&scene)
            })
            .find(|text| text.starts_with("two small"))
            .unwrap();
        assert!(text.starts_with("two small red stars "), "{text}");
        assert!(text.ends_with("striped blue background"), "{text}");
    }
}
