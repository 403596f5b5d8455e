//! A trained model in the form that is saved, shown and applied to an index: boxes with
//! their subset, inclusive `u8` bounds and optional post-tree, or the tree / forest of a
//! baseline. Serialised with serde (JSON in the CLI), so a search can be applied again.

use serde::{Deserialize, Serialize};

use crate::cart::{DecisionTree, RandomForest};
use crate::error::Error;
use crate::index::BoxIndex;

/// Which classifier a round trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Searcher {
    /// One decision-branch model with a post-tree per box.
    #[default]
    #[serde(rename = "db")]
    DBranches,
    /// A vote of decision-branch models on bootstrap samples.
    #[serde(rename = "ens")]
    Ensemble,
    /// A CART tree over all dims, applied by a full scan.
    #[serde(rename = "dtree")]
    DecisionTree,
    /// A random forest, applied by a full scan.
    #[serde(rename = "rf")]
    RandomForest,
}

impl Searcher {
    /// The searcher's name for people.
    pub fn name(self) -> &'static str {
        match self {
            Searcher::DBranches => "DBranches",
            Searcher::Ensemble => "DBranches ensemble",
            Searcher::DecisionTree => "decision tree",
            Searcher::RandomForest => "random forest",
        }
    }
}

/// One box of a model, on the `u8` grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoxRule {
    /// Position of the subset (and its tree) in the index.
    pub subset: u32,
    /// The subset's dims, ascending; checked against the index before a search.
    pub dims: Vec<u16>,
    /// Inclusive lower bounds, one per dim.
    pub lo: Vec<u8>,
    /// Inclusive upper bounds, one per dim.
    pub hi: Vec<u8>,
    /// A tree that must also accept a point found in the box; absent when the training
    /// rows in the box were pure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_tree: Option<DecisionTree>,
}

impl BoxRule {
    /// The box as readable text: `dim_3 in [12, 80] and dim_17 <= 41`, leaving out the
    /// dims it does not bound, and saying when a post-tree filters it further.
    pub fn rule_text(&self) -> String {
        let conditions = self.conditions(RangeStyle::Text);
        let mut text = if conditions.is_empty() {
            "every image".to_owned()
        } else {
            conditions.join(" and ")
        };
        if self.post_tree.is_some() {
            text.push_str(", then filtered by its post-tree");
        }
        text
    }

    /// The box as SQL over a table with one column per dim, its post-tree included as the
    /// paths to its accepting leaves:
    /// `SELECT * FROM images WHERE (dim_3 BETWEEN 12 AND 80) AND (dim_17 <= 41)
    /// AND ((dim_5 <= 40) OR (dim_5 >= 41 AND dim_9 = 7))`.
    pub fn sql(&self) -> String {
        let mut conditions: Vec<String> = self
            .conditions(RangeStyle::Sql)
            .into_iter()
            .map(|c| format!("({c})"))
            .collect();
        if let Some(tree) = &self.post_tree {
            let paths: Vec<Vec<String>> = tree
                .accepting_boxes()
                .into_iter()
                .map(|ranges| {
                    ranges
                        .into_iter()
                        .filter_map(|(d, lo, hi)| range_condition(d, lo, hi, RangeStyle::Sql))
                        .collect()
                })
                .collect();
            // A path without a test accepts every row of the box: the tree adds nothing.
            if !paths.iter().any(Vec::is_empty) {
                let paths: Vec<String> = paths
                    .iter()
                    .map(|path| format!("({})", path.join(" AND ")))
                    .collect();
                conditions.push(if paths.is_empty() {
                    "FALSE".to_owned()
                } else {
                    format!("({})", paths.join(" OR "))
                });
            }
        }
        if conditions.is_empty() {
            "SELECT * FROM images".to_owned()
        } else {
            format!("SELECT * FROM images WHERE {}", conditions.join(" AND "))
        }
    }

    /// Whether the full row `row` lies in the box (ignoring the post-tree).
    pub fn contains(&self, row: &[u8]) -> bool {
        self.dims
            .iter()
            .zip(self.lo.iter().zip(&self.hi))
            .all(|(&d, (lo, hi))| {
                row.get(usize::from(d))
                    .is_some_and(|v| (lo..=hi).contains(&v))
            })
    }

    fn conditions(&self, style: RangeStyle) -> Vec<String> {
        self.dims
            .iter()
            .zip(self.lo.iter().zip(&self.hi))
            .filter_map(|(&d, (&lo, &hi))| range_condition(d, lo, hi, style))
            .collect()
    }
}

/// How a range reads: in the rules shown to people, or in SQL.
#[derive(Clone, Copy)]
enum RangeStyle {
    Text,
    Sql,
}

/// Dim `dim` in `lo..=hi` as a condition; `None` for the whole `u8` grid, which bounds
/// nothing.
fn range_condition(dim: u16, lo: u8, hi: u8, style: RangeStyle) -> Option<String> {
    Some(match (lo, hi, style) {
        (0, 255, _) => return None,
        (lo, hi, _) if lo == hi => format!("dim_{dim} = {lo}"),
        (0, hi, _) => format!("dim_{dim} <= {hi}"),
        (lo, 255, _) => format!("dim_{dim} >= {lo}"),
        (lo, hi, RangeStyle::Text) => format!("dim_{dim} in [{lo}, {hi}]"),
        (lo, hi, RangeStyle::Sql) => format!("dim_{dim} BETWEEN {lo} AND {hi}"),
    })
}

/// A trained classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "searcher")]
pub enum Model {
    /// A point is accepted when a box holds it and that box's post-tree (if any) agrees.
    #[serde(rename = "db")]
    DBranches {
        /// The boxes.
        boxes: Vec<BoxRule>,
    },
    /// A point is accepted when more than `models / 2` boxes, over all models, hold it.
    #[serde(rename = "ens")]
    Ensemble {
        /// Number of models trained.
        models: u32,
        /// The boxes of all models.
        boxes: Vec<BoxRule>,
    },
    /// A point is accepted when the tree says so.
    #[serde(rename = "dtree")]
    DecisionTree {
        /// The tree.
        tree: DecisionTree,
    },
    /// A point is accepted when more than half of the trees say so.
    #[serde(rename = "rf")]
    RandomForest {
        /// The forest.
        forest: RandomForest,
    },
}

impl Model {
    /// The searcher that trained the model.
    pub fn searcher(&self) -> Searcher {
        match self {
            Model::DBranches { .. } => Searcher::DBranches,
            Model::Ensemble { .. } => Searcher::Ensemble,
            Model::DecisionTree { .. } => Searcher::DecisionTree,
            Model::RandomForest { .. } => Searcher::RandomForest,
        }
    }

    /// The boxes (none for the baselines).
    pub fn boxes(&self) -> &[BoxRule] {
        match self {
            Model::DBranches { boxes } | Model::Ensemble { boxes, .. } => boxes,
            Model::DecisionTree { .. } | Model::RandomForest { .. } => &[],
        }
    }

    /// Each box as readable text.
    pub fn rules(&self) -> Vec<String> {
        self.boxes().iter().map(BoxRule::rule_text).collect()
    }

    /// Each box as an SQL query.
    pub fn sql(&self) -> Vec<String> {
        self.boxes().iter().map(BoxRule::sql).collect()
    }

    /// Checks that the model fits `index`: subsets exist and match, bounds have one value
    /// per dim and are ordered, trees are well formed for the index's rows.
    pub fn validate<I: BoxIndex>(&self, index: &I) -> Result<(), Error> {
        let subsets = index.subsets();
        for (i, rule) in self.boxes().iter().enumerate() {
            let mismatch = |reason| Error::ModelMismatch {
                part: format!("box {i}"),
                reason,
            };
            let subset = subsets
                .get(rule.subset as usize)
                .ok_or_else(|| mismatch("subset does not exist in the index"))?;
            if *subset != rule.dims {
                return Err(mismatch("dims differ from the index's subset"));
            }
            if rule.lo.len() != rule.dims.len() || rule.hi.len() != rule.dims.len() {
                return Err(mismatch("bounds do not have one value per dim"));
            }
            if rule.lo.iter().zip(&rule.hi).any(|(lo, hi)| lo > hi) {
                return Err(mismatch("a lower bound exceeds its upper bound"));
            }
            if let Some(tree) = &rule.post_tree {
                tree.validate(index.dims()).map_err(mismatch)?;
            }
        }
        let tree_mismatch = |i: usize, reason| Error::ModelMismatch {
            part: format!("tree {i}"),
            reason,
        };
        match self {
            Model::Ensemble { models: 0, .. } => Err(Error::ModelMismatch {
                part: "ensemble".into(),
                reason: "model count is zero",
            }),
            Model::DecisionTree { tree } => {
                tree.validate(index.dims()).map_err(|r| tree_mismatch(0, r))
            }
            Model::RandomForest { forest } => {
                if forest.trees().is_empty() {
                    return Err(tree_mismatch(0, "forest has no tree"));
                }
                forest.trees().iter().enumerate().try_for_each(|(i, tree)| {
                    tree.validate(index.dims()).map_err(|r| tree_mismatch(i, r))
                })
            }
            Model::DBranches { .. } | Model::Ensemble { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> BoxRule {
        BoxRule {
            subset: 0,
            dims: vec![3, 17],
            lo: vec![12, 0],
            hi: vec![80, 41],
            post_tree: None,
        }
    }

    #[test]
    fn renders_rules_and_sql() {
        assert_eq!(rule().rule_text(), "dim_3 in [12, 80] and dim_17 <= 41");
        assert_eq!(
            rule().sql(),
            "SELECT * FROM images WHERE (dim_3 BETWEEN 12 AND 80) AND (dim_17 <= 41)"
        );
    }

    /// dim_5 <= 40, or dim_5 >= 41 and dim_9 == 7 (thresholds midway, as CART puts them).
    fn post_tree() -> DecisionTree {
        serde_json::from_value(serde_json::json!([
            {"split": {"dim": 5, "threshold": 40.5, "left": 1, "right": 2}},
            {"leaf": {"positive": true}},
            {"split": {"dim": 9, "threshold": 6.5, "left": 3, "right": 4}},
            {"leaf": {"positive": false}},
            {"split": {"dim": 9, "threshold": 7.5, "left": 5, "right": 6}},
            {"leaf": {"positive": true}},
            {"leaf": {"positive": false}},
        ]))
        .unwrap()
    }

    #[test]
    fn rules_leave_out_what_bounds_nothing_and_name_the_post_tree() {
        let mut rule = BoxRule {
            subset: 0,
            dims: vec![1, 2, 3, 4],
            lo: vec![0, 9, 0, 30],
            hi: vec![255, 9, 200, 255],
            post_tree: None,
        };
        assert_eq!(
            rule.rule_text(),
            "dim_2 = 9 and dim_3 <= 200 and dim_4 >= 30"
        );
        assert_eq!(
            rule.sql(),
            "SELECT * FROM images WHERE (dim_2 = 9) AND (dim_3 <= 200) AND (dim_4 >= 30)"
        );
        rule.post_tree = Some(post_tree());
        assert_eq!(
            rule.rule_text(),
            "dim_2 = 9 and dim_3 <= 200 and dim_4 >= 30, then filtered by its post-tree"
        );
        assert_eq!(
            rule.sql(),
            "SELECT * FROM images WHERE (dim_2 = 9) AND (dim_3 <= 200) AND (dim_4 >= 30) \
             AND ((dim_5 <= 40) OR (dim_5 >= 41 AND dim_9 = 7))"
        );
        let everything = BoxRule {
            subset: 0,
            dims: vec![1],
            lo: vec![0],
            hi: vec![255],
            post_tree: None,
        };
        assert_eq!(everything.rule_text(), "every image");
        assert_eq!(everything.sql(), "SELECT * FROM images");
    }

    /// The post-tree's SQL accepts exactly the rows the tree does.
    #[test]
    fn the_post_trees_paths_accept_what_it_accepts() {
        let tree = post_tree();
        let boxes = tree.accepting_boxes();
        assert_eq!(boxes, [vec![(5, 0, 40)], vec![(5, 41, 255), (9, 7, 7)]]);
        let mut row = [0u8; 10];
        for a in 0..=255 {
            for b in 0..=255 {
                (row[5], row[9]) = (a, b);
                let in_a_path = boxes.iter().any(|ranges| {
                    ranges
                        .iter()
                        .all(|&(d, lo, hi)| (lo..=hi).contains(&row[usize::from(d)]))
                });
                assert_eq!(in_a_path, tree.predict(&row), "row {row:?}");
            }
        }
    }

    #[test]
    fn contains_is_inclusive() {
        let mut row = [0u8; 18];
        row[3] = 12;
        row[17] = 41;
        assert!(rule().contains(&row));
        row[3] = 81;
        assert!(!rule().contains(&row));
        assert!(!rule().contains(&[12; 4]));
    }

    #[test]
    fn serde_names_match_the_cli() {
        let searchers: Vec<Searcher> =
            serde_json::from_str(r#"["db","ens","dtree","rf"]"#).unwrap();
        assert_eq!(
            searchers,
            [
                Searcher::DBranches,
                Searcher::Ensemble,
                Searcher::DecisionTree,
                Searcher::RandomForest
            ]
        );
        let model = Model::DBranches {
            boxes: vec![rule()],
        };
        let json = serde_json::to_string(&model).unwrap();
        assert_eq!(
            json,
            r#"{"searcher":"db","boxes":[{"subset":0,"dims":[3,17],"lo":[12,0],"hi":[80,41]}]}"#
        );
        assert_eq!(serde_json::from_str::<Model>(&json).unwrap(), model);
    }
}
