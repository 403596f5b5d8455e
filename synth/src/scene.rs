//! What a scene is made of and how scenes are drawn from a seed.

use std::ops::Range;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seeded::below;

/// The shape drawn (all instances of a scene share it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// A disc.
    Circle,
    /// An axis-aligned square.
    Square,
    /// An upward triangle.
    Triangle,
    /// A five-pointed star.
    Star,
    /// A heart.
    Heart,
    /// A plus-shaped cross.
    Cross,
}

/// A named colour, for shapes and backgrounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Colour {
    /// Red.
    Red,
    /// Green.
    Green,
    /// Blue.
    Blue,
    /// Yellow.
    Yellow,
    /// Purple.
    Purple,
    /// Orange.
    Orange,
    /// White.
    White,
    /// Black.
    Black,
}

/// The size of every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    /// Radius 7.5% of the image side.
    Small,
    /// Radius 15% of the image side (only with one or two instances, so they fit).
    Large,
}

/// The region of the image that holds the instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Position {
    /// Left half, instances in a column.
    Left,
    /// Right half, instances in a column.
    Right,
    /// Top half, instances in a row.
    Top,
    /// Bottom half, instances in a row.
    Bottom,
    /// The middle, instances in a row (two) or a 2x2 grid (three, four).
    Centre,
}

/// How many instances of the shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Count {
    /// One.
    One,
    /// Two.
    Two,
    /// Three.
    Three,
    /// Four.
    Four,
}

/// The background's pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Texture {
    /// One flat colour.
    Plain,
    /// Diagonal stripes.
    Striped,
    /// A grid of dots.
    Dotted,
    /// A checkerboard.
    Checkered,
}

/// A textured background of a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Background {
    /// Pattern.
    pub texture: Texture,
    /// Base colour (the pattern is a lighter or darker shade of it).
    pub colour: Colour,
}

/// Everything a caption says about a scene: two scenes with equal descriptions are
/// indistinguishable by text, so retrieval counts either as a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Description {
    /// The shape.
    pub shape: Shape,
    /// The shapes' colour (never the background's).
    pub colour: Colour,
    /// Their size.
    pub size: Size,
    /// Where they are.
    pub position: Position,
    /// How many.
    pub count: Count,
    /// The background.
    pub background: Background,
}

/// A scene: its description plus the seeds of what a caption does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scene {
    /// What is drawn.
    pub description: Description,
    /// Seed of the small offsets of each instance inside its layout cell.
    pub jitter: u64,
    /// Seed of the caption's template and synonyms.
    pub wording: u64,
}

impl Shape {
    /// Every shape, in declaration order.
    pub const ALL: [Self; 6] = [
        Self::Circle,
        Self::Square,
        Self::Triangle,
        Self::Star,
        Self::Heart,
        Self::Cross,
    ];
}

impl Colour {
    /// Every colour, in declaration order.
    pub const ALL: [Self; 8] = [
        Self::Red,
        Self::Green,
        Self::Blue,
        Self::Yellow,
        Self::Purple,
        Self::Orange,
        Self::White,
        Self::Black,
    ];

    /// sRGB value.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Self::Red => [220, 40, 40],
            Self::Green => [40, 170, 60],
            Self::Blue => [40, 80, 220],
            Self::Yellow => [240, 210, 40],
            Self::Purple => [140, 60, 180],
            Self::Orange => [245, 140, 30],
            Self::White => [245, 245, 245],
            Self::Black => [25, 25, 25],
        }
    }
}

impl Position {
    /// Every position, in declaration order.
    pub const ALL: [Self; 5] = [
        Self::Left,
        Self::Right,
        Self::Top,
        Self::Bottom,
        Self::Centre,
    ];
}

impl Count {
    /// Every count, in declaration order.
    pub const ALL: [Self; 4] = [Self::One, Self::Two, Self::Three, Self::Four];

    /// The number of instances.
    pub fn get(self) -> u32 {
        match self {
            Self::One => 1,
            Self::Two => 2,
            Self::Three => 3,
            Self::Four => 4,
        }
    }
}

impl Texture {
    /// Every texture, in declaration order.
    pub const ALL: [Self; 4] = [Self::Plain, Self::Striped, Self::Dotted, Self::Checkered];
}

/// Scene `index` of `seed`: a function of the two alone (ChaCha8 stream `index` of `seed`),
/// so any range of a collection can be made on its own, in any order.
pub fn scene(seed: u64, index: u64) -> Scene {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let shape = pick(&mut rng, &Shape::ALL);
    let background_colour = pick(&mut rng, &Colour::ALL);
    // Seven choices for the shape colour: every colour but the background's.
    let mut colour = Colour::ALL[below(&mut rng, 7) as usize];
    if colour == background_colour {
        colour = Colour::Black;
    }
    let count = pick(&mut rng, &Count::ALL);
    let size = if count.get() <= 2 && below(&mut rng, 2) == 1 {
        Size::Large
    } else {
        Size::Small
    };
    let position = pick(&mut rng, &Position::ALL);
    let texture = pick(&mut rng, &Texture::ALL);
    Scene {
        description: Description {
            shape,
            colour,
            size,
            position,
            count,
            background: Background {
                texture,
                colour: background_colour,
            },
        },
        jitter: rng.next_u64(),
        wording: rng.next_u64(),
    }
}

/// Scenes `indices` of `seed` (see [`scene`]).
pub fn generate(seed: u64, indices: Range<u64>) -> Vec<Scene> {
    indices.map(|index| scene(seed, index)).collect()
}

/// A uniform element of a short, non-empty list.
pub(crate) fn pick<T: Copy>(rng: &mut impl RngCore, items: &[T]) -> T {
    // Lists here have at most a dozen items: the cast cannot truncate.
    items[below(rng, items.len() as u32) as usize]
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn a_scene_depends_only_on_seed_and_index() {
        let all = generate(3, 0..50);
        assert_eq!(all[17], scene(3, 17));
        assert_eq!(generate(3, 17..20), all[17..20]);
        assert_ne!(generate(4, 0..50), all);
    }

    #[test]
    fn shape_colour_differs_from_background_and_large_fits() {
        for scene in generate(1, 0..2000) {
            let d = scene.description;
            assert_ne!(d.colour, d.background.colour, "{d:?}");
            assert!(d.size == Size::Small || d.count.get() <= 2, "{d:?}");
        }
    }

    #[test]
    fn every_value_of_every_attribute_occurs() {
        let scenes = generate(1, 0..2000);
        let seen = |f: &dyn Fn(&Description) -> String| {
            scenes
                .iter()
                .map(|s| f(&s.description))
                .collect::<HashSet<_>>()
                .len()
        };
        assert_eq!(seen(&|d| format!("{:?}", d.shape)), Shape::ALL.len());
        assert_eq!(seen(&|d| format!("{:?}", d.colour)), Colour::ALL.len());
        assert_eq!(seen(&|d| format!("{:?}", d.size)), 2);
        assert_eq!(seen(&|d| format!("{:?}", d.position)), Position::ALL.len());
        assert_eq!(seen(&|d| format!("{:?}", d.count)), Count::ALL.len());
        assert_eq!(
            seen(&|d| format!("{:?}", d.background.texture)),
            Texture::ALL.len()
        );
        assert_eq!(
            seen(&|d| format!("{:?}", d.background.colour)),
            Colour::ALL.len()
        );
    }
}
