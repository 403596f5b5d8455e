//! Relevance labels of one query session: a label per image id, changed by a click
//! (none -> relevant -> irrelevant -> none, once per click), by a shift-click range, or
//! for every shown image at once. Labels outlive rounds; a new query starts a new set.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the user said about an image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// Not labelled.
    #[default]
    None,
    /// Relevant: a positive of the next round.
    Relevant,
    /// Irrelevant: a negative of the next round.
    Irrelevant,
}

impl Label {
    /// The label after one click.
    pub fn next(self) -> Self {
        match self {
            Label::None => Label::Relevant,
            Label::Relevant => Label::Irrelevant,
            Label::Irrelevant => Label::None,
        }
    }

    /// The label's name in the page (`data-label`) and in exports.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::None => "none",
            Label::Relevant => "relevant",
            Label::Irrelevant => "irrelevant",
        }
    }

    /// The label said for people (a tile's accessible name and its badge).
    pub fn words(self) -> &'static str {
        match self {
            Label::None => "not labelled",
            Label::Relevant => "relevant",
            Label::Irrelevant => "irrelevant",
        }
    }
}

/// The labels of one query session; unlabelled ids are not stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSet {
    labels: BTreeMap<u32, Label>,
}

impl LabelSet {
    /// The label of `id`.
    pub fn get(&self, id: u32) -> Label {
        self.labels.get(&id).copied().unwrap_or_default()
    }

    /// Sets the label of `id`.
    pub fn set(&mut self, id: u32, label: Label) {
        if label == Label::None {
            self.labels.remove(&id);
        } else {
            self.labels.insert(id, label);
        }
    }

    /// Advances the label of `id` by one click and returns the new label.
    pub fn cycle(&mut self, id: u32) -> Label {
        let label = self.get(id).next();
        self.set(id, label);
        label
    }

    /// Sets every id of `ids` to `label`.
    pub fn set_all(&mut self, ids: &[u32], label: Label) {
        for &id in ids {
            self.set(id, label);
        }
    }

    /// Relevant ids, ascending.
    pub fn relevant(&self) -> Vec<u32> {
        self.with(Label::Relevant)
    }

    /// Irrelevant ids, ascending.
    pub fn irrelevant(&self) -> Vec<u32> {
        self.with(Label::Irrelevant)
    }

    /// Whether no id is labelled.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Every labelled id with its label, ascending by id.
    pub fn iter(&self) -> impl Iterator<Item = (u32, Label)> + '_ {
        self.labels.iter().map(|(&id, &label)| (id, label))
    }

    fn with(&self, wanted: Label) -> Vec<u32> {
        self.iter()
            .filter(|&(_, label)| label == wanted)
            .map(|(id, _)| id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_click_moves_one_step_and_three_clicks_return() {
        let mut labels = LabelSet::default();
        assert_eq!(labels.cycle(7), Label::Relevant);
        assert_eq!(labels.cycle(7), Label::Irrelevant);
        assert_eq!(labels.cycle(7), Label::None);
        assert!(labels.is_empty());
    }

    #[test]
    fn relevant_and_irrelevant_are_disjoint_and_sorted() {
        let mut labels = LabelSet::default();
        labels.set_all(&[9, 3, 5], Label::Relevant);
        labels.set(5, Label::Irrelevant);
        labels.set(1, Label::Irrelevant);
        assert_eq!(labels.relevant(), [3, 9]);
        assert_eq!(labels.irrelevant(), [1, 5]);
        labels.set_all(&[1, 3, 5, 9], Label::None);
        assert!(labels.is_empty());
    }

    #[test]
    fn names_match_the_page_hooks() {
        let names: Vec<_> = [Label::None, Label::Relevant, Label::Irrelevant]
            .iter()
            .map(|l| l.as_str())
            .collect();
        assert_eq!(names, ["none", "relevant", "irrelevant"]);
        assert_eq!(Label::None.words(), "not labelled");
        assert_eq!(
            serde_json::to_string(&Label::Relevant).unwrap(),
            "\"relevant\""
        );
    }
}
