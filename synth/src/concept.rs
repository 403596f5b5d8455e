//! Concepts a user searches for ("green hearts", "hearts", "green shapes") and which scenes
//! belong to them, from the scenes' descriptions: the ground truth of the concept benchmark
//! (`precompute eval`) and the app's end-to-end test, never a guess from caption words.

use crate::caption::{colour_word, shape_word};
use crate::scene::{Colour, Description, Shape};

/// A set of scenes named by the shapes' colour, their kind, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Concept {
    /// The shapes' colour (never the background's), if the concept names one.
    pub colour: Option<Colour>,
    /// The shapes' kind, if the concept names one.
    pub shape: Option<Shape>,
}

/// Which concepts [`Concept::all_of`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConceptKind {
    /// A colour and a shape: 48 concepts ("green hearts").
    ColourShape,
    /// A shape alone: 6 concepts ("hearts").
    Shape,
    /// A colour alone: 8 concepts ("green shapes").
    Colour,
}

impl Concept {
    /// Every concept of `kind`, colours then shapes in declaration order.
    pub fn all_of(kind: ConceptKind) -> Vec<Self> {
        match kind {
            ConceptKind::ColourShape => Colour::ALL
                .iter()
                .flat_map(|&colour| {
                    Shape::ALL.iter().map(move |&shape| Self {
                        colour: Some(colour),
                        shape: Some(shape),
                    })
                })
                .collect(),
            ConceptKind::Shape => Shape::ALL
                .iter()
                .map(|&shape| Self {
                    colour: None,
                    shape: Some(shape),
                })
                .collect(),
            ConceptKind::Colour => Colour::ALL
                .iter()
                .map(|&colour| Self {
                    colour: Some(colour),
                    shape: None,
                })
                .collect(),
        }
    }

    /// The query a user types for it: "green hearts", "hearts", "green shapes".
    pub fn query(&self) -> String {
        match (self.colour, self.shape) {
            (Some(colour), Some(shape)) => {
                format!("{} {}", colour_word(colour), shape_word(shape, true))
            }
            (None, Some(shape)) => shape_word(shape, true).to_owned(),
            (Some(colour), None) => format!("{} shapes", colour_word(colour)),
            (None, None) => "shapes".to_owned(),
        }
    }

    /// Whether a scene of `description` belongs to the concept.
    pub fn contains(&self, description: &Description) -> bool {
        self.colour.is_none_or(|c| c == description.colour)
            && self.shape.is_none_or(|s| s == description.shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::generate;

    #[test]
    fn concepts_partition_the_scenes_by_their_shapes() {
        let scenes = generate(1, 0..3000);
        for kind in [
            ConceptKind::ColourShape,
            ConceptKind::Shape,
            ConceptKind::Colour,
        ] {
            let concepts = Concept::all_of(kind);
            for scene in &scenes {
                let holding = concepts
                    .iter()
                    .filter(|c| c.contains(&scene.description))
                    .count();
                assert_eq!(holding, 1, "{kind:?} {:?}", scene.description);
            }
        }
        assert_eq!(Concept::all_of(ConceptKind::ColourShape).len(), 48);
    }

    #[test]
    fn a_concept_reads_as_a_query() {
        let green_hearts = Concept {
            colour: Some(Colour::Green),
            shape: Some(Shape::Heart),
        };
        assert_eq!(green_hearts.query(), "green hearts");
        assert_eq!(Concept::all_of(ConceptKind::Shape)[5].query(), "crosses");
        assert_eq!(
            Concept::all_of(ConceptKind::Colour)[0].query(),
            "red shapes"
        );
    }

    #[test]
    fn the_background_colour_is_not_the_concept_colour() {
        let mut scene = generate(1, 0..1)[0];
        scene.description.colour = Colour::Red;
        scene.description.background.colour = Colour::Green;
        let green = Concept {
            colour: Some(Colour::Green),
            shape: None,
        };
        assert!(!green.contains(&scene.description));
    }
}
