//! Captions: a scene's [`Description`] in words, with the template and synonyms chosen by
//! the scene's wording seed, so a collection reads like varied human captions while each
//! caption still names every attribute.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

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
