//! One query session as a state with pure actions: the current results (all of them,
//! paged), the labels (kept across rounds until a new query), the round history (undo),
//! keyboard focus and the shift-click anchor. The UI renders a [`Session`] and turns
//! every user event and worker reply into an [`Action`].

use std::rc::Rc;

use branches::Model;

use crate::labels::{Label, LabelSet};
use crate::protocol::StageTimes;

/// Result tiles per page.
pub const PAGE_SIZE: usize = 60;

/// Nearest neighbours of a query (the reference shows 60).
pub const FIRST_RESULTS: u32 = 60;

/// What the session started from.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Query {
    /// Nothing yet.
    #[default]
    None,
    /// A text query.
    Text(String),
    /// "More like this": the stored feature of an image.
    Like(u32),
    /// An image of the user's own (its file name), encoded in the browser.
    Image(String),
    /// A saved search applied.
    Saved,
}

/// A ranked list of image ids. The whole collection in id order (a dataset's first view)
/// is held as its size, not as an id per image (40 MB at 10M images); a list is shared, so
/// cloning the app's state, as every message does, copies no ids.
#[derive(Clone, Debug, PartialEq)]
pub enum Ranked {
    /// Ids `0..n`.
    Collection(u32),
    /// These ids, in this order.
    Listed(Rc<Vec<u32>>),
}

impl Default for Ranked {
    fn default() -> Self {
        Self::Listed(Rc::default())
    }
}

impl From<Vec<u32>> for Ranked {
    fn from(ids: Vec<u32>) -> Self {
        Self::Listed(Rc::new(ids))
    }
}

impl Ranked {
    /// Number of ids.
    pub fn len(&self) -> usize {
        match self {
            Self::Collection(n) => *n as usize,
            Self::Listed(ids) => ids.len(),
        }
    }

    /// Whether there is no id.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id at `at`.
    pub fn get(&self, at: usize) -> Option<u32> {
        match self {
            Self::Collection(n) => (at < *n as usize).then_some(at as u32),
            Self::Listed(ids) => ids.get(at).copied(),
        }
    }

    /// The ids at `range`, cut to the list.
    pub fn range(&self, range: std::ops::Range<usize>) -> Vec<u32> {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        match self {
            Self::Collection(_) => (start as u32..end as u32).collect(),
            Self::Listed(ids) => ids[start..end].to_vec(),
        }
    }

    /// Where `id` is in the list.
    pub fn position(&self, id: u32) -> Option<usize> {
        match self {
            Self::Collection(n) => (id < *n).then_some(id as usize),
            Self::Listed(ids) => ids.iter().position(|&r| r == id),
        }
    }

    /// The ids in order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let (all, listed) = match self {
            Self::Collection(n) => (0..*n, &[][..]),
            Self::Listed(ids) => (0..0, ids.as_slice()),
        };
        all.chain(listed.iter().copied())
    }

    /// The listed ids; `None` for the whole collection.
    pub fn listed(&self) -> Option<&[u32]> {
        match self {
            Self::Collection(_) => None,
            Self::Listed(ids) => Some(ids),
        }
    }
}

/// The results of one step: k-NN or a round of search by classification.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Round {
    /// Every result, ranked.
    pub ids: Ranked,
    /// The unlabelled images the round's model is least sure about, least sure first
    /// (empty for k-NN): labelling them teaches the next round most.
    pub uncertain: Ranked,
    /// The model's boxes as rules (empty for k-NN and the baselines).
    pub rules: Vec<String>,
    /// The model's boxes as SQL.
    pub sql: Vec<String>,
    /// The trained model (none for k-NN).
    pub model: Option<Model>,
    /// Where the time went.
    pub times: StageTimes,
}

/// Which list the grid shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Listing {
    /// The results, likeliest first.
    #[default]
    Results,
    /// The round's least sure images ([`Round::uncertain`]).
    Uncertain,
}

/// Something that changes the session.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The first results of a new query: labels and history start over and every result
    /// starts relevant (the reference's loop, step 1).
    Start {
        /// The query.
        query: Query,
        /// Its results.
        round: Round,
    },
    /// A new session whose results start unlabelled: browsing the collection, or a saved
    /// search applied.
    Show {
        /// The query.
        query: Query,
        /// Its results.
        round: Round,
    },
    /// The results of a fine-tune round; labels are kept, the old state can be undone.
    Round(Round),
    /// A click on a tile: one label step, or with shift the anchor's label over the range
    /// from the last clicked tile.
    Click {
        /// The image.
        id: u32,
        /// Whether shift was held.
        shift: bool,
    },
    /// Sets every tile of the page shown.
    LabelShown(Label),
    /// Shows page `n` (clamped).
    Page(usize),
    /// Shows the results or the least sure images, from their first page.
    List(Listing),
    /// Moves the keyboard focus by this many tiles (clamped to the results).
    MoveFocus(isize),
    /// The tile at this result position took the keyboard focus (Tab, a click).
    Focus(usize),
    /// Sets the focused tile's label.
    LabelFocused(Label),
    /// Returns to the state before the last round.
    Undo,
    /// Replaces the labels (a shared URL).
    SetLabels(LabelSet),
    /// A longer neighbour list of the same query ("more results"): the labels are kept,
    /// the new results start relevant as the query's first ones did, and the page of the
    /// first new one is shown.
    More(Vec<u32>),
}

/// The state of one query session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Session {
    /// The query.
    pub query: Query,
    /// The results shown.
    pub round: Round,
    /// The labels.
    pub labels: LabelSet,
    /// The list shown.
    pub listing: Listing,
    /// The page shown.
    pub page: usize,
    /// The result position with keyboard focus.
    pub focus: Option<usize>,
    /// The result position of the last click (a shift-click's range start).
    anchor: Option<usize>,
    /// States before each round, oldest first.
    history: Vec<(Round, LabelSet)>,
    /// Counts the result lists shown: it changes whenever [`Self::round`] is replaced or
    /// extended (an embedding page is told each time).
    pub results_shown: u64,
}

impl Session {
    /// Applies `action`.
    pub fn apply(&mut self, action: Action) {
        // Start and Show begin a new session: the count goes on across sessions.
        let shown = self.results_shown;
        let new_results = match action {
            Action::Start { query, round } => {
                *self = Session::default();
                let ids: Vec<u32> = round.ids.iter().collect();
                self.labels.set_all(&ids, Label::Relevant);
                self.query = query;
                self.round = round;
                true
            }
            Action::Show { query, round } => {
                *self = Session::default();
                self.query = query;
                self.round = round;
                true
            }
            Action::Round(round) => {
                let old = std::mem::replace(&mut self.round, round);
                self.history.push((old, self.labels.clone()));
                // Every round shows its results first.
                self.listing = Listing::Results;
                self.reset_view();
                true
            }
            Action::Click { id, shift } => {
                self.click(id, shift);
                false
            }
            Action::LabelShown(label) => {
                let shown = self.shown();
                self.labels.set_all(&shown, label);
                false
            }
            Action::Page(page) => {
                self.page = page.min(self.pages().saturating_sub(1));
                self.focus = None;
                false
            }
            Action::List(listing) => {
                self.listing = listing;
                self.reset_view();
                false
            }
            Action::MoveFocus(delta) => {
                self.move_focus(delta);
                false
            }
            Action::Focus(at) => {
                if at < self.listed().len() {
                    self.focus = Some(at);
                }
                false
            }
            Action::LabelFocused(label) => {
                if let Some(id) = self.focus.and_then(|f| self.listed().get(f)) {
                    self.labels.set(id, label);
                }
                false
            }
            Action::Undo => match self.history.pop() {
                Some((round, labels)) => {
                    self.round = round;
                    self.labels = labels;
                    self.listing = Listing::Results;
                    self.reset_view();
                    true
                }
                None => false,
            },
            Action::SetLabels(labels) => {
                self.labels = labels;
                false
            }
            Action::More(ids) => self.extend(ids),
        };
        self.results_shown = shown + u64::from(new_results);
    }

    fn move_focus(&mut self, delta: isize) {
        let Some(last) = self.listed().len().checked_sub(1) else {
            return;
        };
        let from = self.focus.unwrap_or(self.page * PAGE_SIZE) as isize;
        let to = (from + delta).clamp(0, last as isize) as usize;
        self.focus = Some(to);
        self.page = to / PAGE_SIZE;
    }

    /// [`Action::More`]; whether the results grew.
    fn extend(&mut self, ids: Vec<u32>) -> bool {
        if !self.extendable() {
            return false;
        }
        let shown = self.round.ids.len();
        let known: std::collections::HashSet<u32> = self.round.ids.iter().collect();
        let new: Vec<u32> = ids.into_iter().filter(|id| !known.contains(id)).collect();
        if new.is_empty() {
            return false;
        }
        self.labels.set_all(&new, Label::Relevant);
        let mut extended: Vec<u32> = self.round.ids.iter().collect();
        extended.extend(new);
        self.round.ids = extended.into();
        self.listing = Listing::Results;
        self.page = shown / PAGE_SIZE;
        self.focus = None;
        true
    }

    /// Whether the results are a query's neighbour list that [`Action::More`] can extend:
    /// text, an image or "more like this", before any round (a round's results are all it accepts).
    pub fn extendable(&self) -> bool {
        matches!(
            self.query,
            Query::Text(_) | Query::Like(_) | Query::Image(_)
        ) && self.history.is_empty()
            && self.round.model.is_none()
    }

    fn reset_view(&mut self) {
        self.page = 0;
        self.focus = None;
        self.anchor = None;
    }

    fn click(&mut self, id: u32, shift: bool) {
        let Some(at) = self.listed().position(id) else {
            return;
        };
        match self.anchor.filter(|_| shift) {
            Some(anchor) => {
                let label = self.labels.get(self.listed().get(anchor).unwrap_or(id));
                let ids = self.listed().range(anchor.min(at)..anchor.max(at) + 1);
                self.labels.set_all(&ids, label);
            }
            None => {
                self.labels.cycle(id);
            }
        }
        self.anchor = Some(at);
        self.focus = Some(at);
    }

    /// The list the grid shows, all pages.
    pub fn listed(&self) -> &Ranked {
        match self.listing {
            Listing::Results => &self.round.ids,
            Listing::Uncertain => &self.round.uncertain,
        }
    }

    /// The ids of the page shown.
    pub fn shown(&self) -> Vec<u32> {
        let start = self.page * PAGE_SIZE;
        self.listed().range(start..start + PAGE_SIZE)
    }

    /// Number of pages (0 without results).
    pub fn pages(&self) -> usize {
        self.listed().len().div_ceil(PAGE_SIZE)
    }

    /// Rounds that [`Action::Undo`] can take back.
    pub fn undoable(&self) -> usize {
        self.history.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(n: u32) -> Session {
        let mut session = Session::default();
        session.apply(Action::Start {
            query: Query::Like(0),
            round: Round {
                ids: (0..n).collect::<Vec<_>>().into(),
                ..Round::default()
            },
        });
        session
    }

    fn round(ids: Vec<u32>) -> Action {
        Action::Round(Round {
            ids: ids.into(),
            ..Round::default()
        })
    }

    #[test]
    fn the_whole_collection_is_paged_and_labelled_without_an_id_per_image() {
        // u32::MAX images: holding an id each would take 16 GB.
        let mut session = Session::default();
        session.apply(Action::Show {
            query: Query::None,
            round: Round {
                ids: Ranked::Collection(u32::MAX),
                ..Round::default()
            },
        });
        assert_eq!(session.pages(), (u32::MAX as usize).div_ceil(PAGE_SIZE));
        assert_eq!(session.shown(), (0..60).collect::<Vec<u32>>());
        session.apply(Action::Page(1_000_000));
        assert_eq!(session.shown()[0], 60_000_000);
        session.apply(Action::Click {
            id: 60_000_002,
            shift: false,
        });
        session.apply(Action::Click {
            id: 60_000_005,
            shift: true,
        });
        assert_eq!(
            session.labels.relevant(),
            (60_000_002..=60_000_005).collect::<Vec<u32>>()
        );
        session.apply(Action::MoveFocus(1));
        assert_eq!(session.focus, Some(60_000_006));
        session.apply(Action::Page(usize::MAX));
        assert_eq!(session.shown().last(), Some(&(u32::MAX - 1)));
    }

    #[test]
    fn the_least_sure_list_is_labelled_like_the_results_and_each_round_shows_results_first() {
        let mut session = started(5);
        session.apply(Action::Round(Round {
            ids: vec![0, 1, 2].into(),
            uncertain: vec![7, 3, 8].into(),
            ..Round::default()
        }));
        session.apply(Action::List(Listing::Uncertain));
        assert_eq!(session.shown(), [7, 3, 8]);
        assert_eq!(session.pages(), 1);
        // A click, a shift-click range and the keyboard act on the list shown.
        session.apply(Action::Click {
            id: 7,
            shift: false,
        });
        assert_eq!(session.labels.get(7), Label::Relevant);
        session.apply(Action::Click { id: 8, shift: true });
        assert_eq!(session.labels.relevant(), [0, 1, 2, 3, 4, 7, 8]);
        session.apply(Action::MoveFocus(-1));
        session.apply(Action::LabelFocused(Label::Irrelevant));
        assert_eq!(session.labels.get(3), Label::Irrelevant);
        session.apply(Action::LabelShown(Label::None));
        assert_eq!(session.labels.relevant(), [0, 1, 2, 4]);
        // The next round, and an undo, show their results first.
        session.apply(round(vec![4]));
        assert_eq!(
            (session.listing, session.shown()),
            (Listing::Results, vec![4])
        );
        session.apply(Action::List(Listing::Uncertain));
        assert!(
            session.shown().is_empty(),
            "no least sure images in this round"
        );
        session.apply(Action::Undo);
        assert_eq!(session.listing, Listing::Results);
        assert_eq!(session.shown(), [0, 1, 2]);
    }

    #[test]
    fn a_new_query_starts_with_every_result_relevant() {
        let mut session = started(5);
        assert_eq!(session.labels.relevant(), [0, 1, 2, 3, 4]);
        session.apply(Action::Click {
            id: 2,
            shift: false,
        });
        assert_eq!(session.labels.get(2), Label::Irrelevant);
        session.apply(Action::Start {
            query: Query::Like(9),
            round: Round {
                ids: vec![9, 8].into(),
                ..Round::default()
            },
        });
        assert_eq!(session.labels.relevant(), [8, 9]);
        assert!(
            session.labels.irrelevant().is_empty(),
            "a new query drops old labels"
        );
    }

    #[test]
    fn more_results_extend_the_neighbour_list_and_keep_the_labels() {
        let mut session = started(60);
        session.apply(Action::Click {
            id: 5,
            shift: false,
        });
        assert!(session.extendable());
        let shown = session.results_shown;
        // The longer list repeats the first 60: only the new ones are added, relevant.
        session.apply(Action::More((0..120).collect()));
        assert_eq!(session.results_shown, shown + 1, "new results, told once");
        assert_eq!(session.page, 1, "the first new result's page");
        assert_eq!(
            session.round.ids.iter().collect::<Vec<_>>(),
            (0..120).collect::<Vec<_>>()
        );
        assert_eq!(session.labels.get(5), Label::Irrelevant);
        assert_eq!(session.labels.get(100), Label::Relevant);
        session.apply(Action::Page(0));
        session.apply(Action::More((0..120).collect()));
        assert_eq!(
            session.results_shown,
            shown + 1,
            "paging or nothing new is no news"
        );
        // After a round, the results are all the model accepts: nothing to extend.
        session.apply(round(vec![1, 2]));
        assert!(!session.extendable());
        session.apply(Action::More((0..180).collect()));
        assert_eq!(session.round.ids.iter().collect::<Vec<_>>(), [1, 2]);
        let mut browsing = Session::default();
        browsing.apply(Action::Show {
            query: Query::None,
            round: Round::default(),
        });
        assert!(!browsing.extendable());
    }

    #[test]
    fn browsing_and_saved_searches_start_unlabelled() {
        let mut session = started(4);
        session.apply(Action::Show {
            query: Query::Saved,
            round: Round {
                ids: vec![3, 2].into(),
                ..Round::default()
            },
        });
        assert!(session.labels.is_empty());
        assert_eq!(
            (session.query.clone(), session.undoable()),
            (Query::Saved, 0)
        );
    }

    #[test]
    fn labels_survive_rounds_and_undo_restores_both() {
        let mut session = started(3);
        session.apply(Action::Click {
            id: 1,
            shift: false,
        });
        session.apply(round(vec![1, 7, 8]));
        assert_eq!(
            session.labels.get(1),
            Label::Irrelevant,
            "kept when it reappears"
        );
        assert_eq!(session.labels.get(7), Label::None);
        session.apply(Action::Click {
            id: 7,
            shift: false,
        });
        assert_eq!(session.undoable(), 1);
        session.apply(Action::Undo);
        assert_eq!(session.round.ids.iter().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(session.labels.get(7), Label::None);
        assert_eq!(session.undoable(), 0);
        session.apply(Action::Undo);
        assert_eq!(
            session.round.ids.iter().collect::<Vec<_>>(),
            [0, 1, 2],
            "nothing more to undo"
        );
    }

    #[test]
    fn paging_covers_every_result() {
        let mut session = started(0);
        session.apply(round((0..150).collect()));
        assert_eq!(session.pages(), 3);
        let mut seen = Vec::new();
        for page in 0..session.pages() {
            session.apply(Action::Page(page));
            seen.extend(session.shown());
        }
        assert_eq!(seen, (0..150).collect::<Vec<_>>());
        session.apply(Action::Page(99));
        assert_eq!(session.page, 2);
        assert_eq!(session.shown().len(), 30);
    }

    #[test]
    fn all_buttons_touch_only_the_page_shown() {
        let mut session = started(0);
        session.apply(round((0..100).collect()));
        session.apply(Action::LabelShown(Label::Irrelevant));
        assert_eq!(session.labels.irrelevant(), (0..60).collect::<Vec<_>>());
        session.apply(Action::Page(1));
        session.apply(Action::LabelShown(Label::Relevant));
        assert_eq!(session.labels.relevant(), (60..100).collect::<Vec<_>>());
        session.apply(Action::LabelShown(Label::None));
        assert_eq!(session.labels.relevant(), Vec::<u32>::new());
    }

    #[test]
    fn shift_click_spreads_the_anchor_label_over_the_range() {
        let mut session = started(0);
        session.apply(round(vec![10, 11, 12, 13, 14]));
        session.apply(Action::Click {
            id: 13,
            shift: false,
        });
        session.apply(Action::Click {
            id: 11,
            shift: true,
        });
        assert_eq!(session.labels.relevant(), [11, 12, 13]);
        session.apply(Action::Click {
            id: 11,
            shift: false,
        });
        session.apply(Action::Click {
            id: 14,
            shift: true,
        });
        assert_eq!(session.labels.relevant(), Vec::<u32>::new());
        assert_eq!(session.labels.irrelevant(), [11, 12, 13, 14]);
    }

    #[test]
    fn keyboard_focus_moves_across_pages_and_labels() {
        let mut session = started(0);
        session.apply(round((0..70).collect()));
        session.apply(Action::MoveFocus(1));
        assert_eq!(session.focus, Some(1));
        session.apply(Action::MoveFocus(64));
        assert_eq!((session.focus, session.page), (Some(65), 1));
        session.apply(Action::LabelFocused(Label::Irrelevant));
        assert_eq!(session.labels.irrelevant(), [65]);
        session.apply(Action::MoveFocus(-1000));
        assert_eq!((session.focus, session.page), (Some(0), 0));
        session.apply(Action::Focus(3));
        assert_eq!(session.focus, Some(3), "a tile focused by Tab");
        session.apply(Action::Focus(70));
        assert_eq!(session.focus, Some(3), "no such tile");
        let mut empty = Session::default();
        empty.apply(Action::MoveFocus(1));
        assert_eq!(empty.focus, None);
    }
}
