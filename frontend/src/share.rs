//! A search as URL query parameters (shareable, reloadable) and the export of results and
//! labels as JSON or CSV.
//!
//! Parameters: `dataset` (name in the catalog), `q` (text) or `like` (image id), `pos` and
//! `neg` (comma-separated ids), `searcher` (`db`, `ens`, `dtree`, `rf`), `rn` (random
//! negatives), `nw` (negative weight). `catalog` is read by the app, not here.

use branches::{Model, Searcher};
use dataset::Item;
use serde::{Deserialize, Serialize};

use crate::labels::{Label, LabelSet};
use crate::session::Query;

/// Why a shared URL could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShareError {
    /// A parameter's value is not what it should be.
    #[error("URL parameter {name}={value:?}: {expected}")]
    Param {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
}

/// Everything a shared URL restores.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedSearch {
    /// The dataset's name.
    pub dataset: Option<String>,
    /// The query.
    pub query: Query,
    /// The labels.
    pub labels: LabelSet,
    /// The searcher.
    pub searcher: Searcher,
    /// Random negatives per round (0..=1000).
    pub random_negatives: u32,
    /// Weight of each irrelevant image (1..=100).
    pub negative_weight: u32,
}

impl Default for SharedSearch {
    fn default() -> Self {
        Self {
            dataset: None,
            query: Query::None,
            labels: LabelSet::default(),
            searcher: Searcher::DBranches,
            random_negatives: 500,
            negative_weight: 1,
        }
    }
}

/// The URL name of a searcher (as in `branches`' serde names).
pub fn searcher_name(searcher: Searcher) -> &'static str {
    match searcher {
        Searcher::DBranches => "db",
        Searcher::Ensemble => "ens",
        Searcher::DecisionTree => "dtree",
        Searcher::RandomForest => "rf",
    }
}

/// The searcher of a URL name.
pub fn searcher_from_name(name: &str) -> Option<Searcher> {
    [
        Searcher::DBranches,
        Searcher::Ensemble,
        Searcher::DecisionTree,
        Searcher::RandomForest,
    ]
    .into_iter()
    .find(|&s| searcher_name(s) == name)
}

fn ids_param(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

fn bad(name: &'static str, value: &str, expected: &'static str) -> ShareError {
    ShareError::Param {
        name,
        value: value.to_owned(),
        expected,
    }
}

fn parse_ids(name: &'static str, value: &str) -> Result<Vec<u32>, ShareError> {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| bad(name, value, "comma-separated image ids"))
        })
        .collect()
}

fn parse_in(
    name: &'static str,
    value: &str,
    range: std::ops::RangeInclusive<u32>,
    expected: &'static str,
) -> Result<u32, ShareError> {
    value
        .parse()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| bad(name, value, expected))
}

impl SharedSearch {
    /// A text query with the default settings and no labels (the embedded element's
    /// `query` attribute).
    pub fn text(text: String) -> Self {
        Self {
            query: Query::Text(text),
            ..Self::default()
        }
    }

    /// The search as `(name, value)` parameters, defaults left out.
    pub fn to_params(&self) -> Vec<(&'static str, String)> {
        let defaults = SharedSearch::default();
        let mut params = Vec::new();
        if let Some(dataset) = &self.dataset {
            params.push(("dataset", dataset.clone()));
        }
        match &self.query {
            Query::Text(text) => params.push(("q", text.clone())),
            Query::Like(id) => params.push(("like", id.to_string())),
            // An image's pixels do not fit in a link: the link keeps its labels only.
            Query::None | Query::Saved | Query::Image(_) => {}
        }
        for (name, ids) in [
            ("pos", self.labels.relevant()),
            ("neg", self.labels.irrelevant()),
        ] {
            if !ids.is_empty() {
                params.push((name, ids_param(&ids)));
            }
        }
        if self.searcher != defaults.searcher {
            params.push(("searcher", searcher_name(self.searcher).to_owned()));
        }
        if self.random_negatives != defaults.random_negatives {
            params.push(("rn", self.random_negatives.to_string()));
        }
        if self.negative_weight != defaults.negative_weight {
            params.push(("nw", self.negative_weight.to_string()));
        }
        params
    }

    /// Reads a search from URL parameters; unknown parameters are ignored.
    ///
    /// # Errors
    /// [`ShareError::Param`] naming the first malformed parameter.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ShareError> {
        let mut search = SharedSearch::default();
        for (name, value) in params {
            match name {
                "dataset" => search.dataset = Some(value.to_owned()),
                "q" => search.query = Query::Text(value.to_owned()),
                "like" => {
                    let id = value
                        .parse()
                        .map_err(|_| bad("like", value, "an image id"))?;
                    search.query = Query::Like(id);
                }
                "pos" => {
                    let ids = parse_ids("pos", value)?;
                    search.labels.set_all(&ids, Label::Relevant);
                }
                "neg" => {
                    let ids = parse_ids("neg", value)?;
                    search.labels.set_all(&ids, Label::Irrelevant);
                }
                "searcher" => {
                    search.searcher = searcher_from_name(value)
                        .ok_or_else(|| bad("searcher", value, "one of db, ens, dtree, rf"))?;
                }
                "rn" => search.random_negatives = parse_in("rn", value, 0..=1000, "0..=1000")?,
                "nw" => search.negative_weight = parse_in("nw", value, 1..=100, "1..=100")?,
                _ => {}
            }
        }
        Ok(search)
    }
}

/// One exported image: a result or a labelled image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportRow {
    /// Rank among the results (1-based), or `None` for a labelled image not among them.
    pub rank: Option<u32>,
    /// Image id.
    pub id: u32,
    /// Its label.
    pub label: Label,
    /// Its caption (empty when its metadata is not known).
    pub caption: String,
    /// Its source file or URL (empty when not known).
    pub source: String,
    /// When it was taken, ISO 8601 (empty when not known).
    pub date_taken: String,
}

/// Every result in rank order, then every labelled image that is not a result; `item`
/// gives an id's metadata when it is loaded.
pub fn export_rows<'a>(
    results: &[u32],
    labels: &LabelSet,
    item: impl Fn(u32) -> Option<&'a Item>,
) -> Vec<ExportRow> {
    let row = |rank, id| {
        let meta = item(id);
        ExportRow {
            rank,
            id,
            label: labels.get(id),
            caption: meta.map(|m| m.caption.clone()).unwrap_or_default(),
            source: meta.map(|m| m.source.clone()).unwrap_or_default(),
            date_taken: meta.and_then(|m| m.date_taken.clone()).unwrap_or_default(),
        }
    };
    let mut rows: Vec<ExportRow> = (1..)
        .zip(results)
        .map(|(rank, &id)| row(Some(rank), id))
        .collect();
    let shown: std::collections::HashSet<u32> = results.iter().copied().collect();
    rows.extend(
        labels
            .iter()
            .filter(|(id, _)| !shown.contains(id))
            .map(|(id, _)| row(None, id)),
    );
    rows
}

/// The rows as a JSON array.
pub fn to_json(rows: &[ExportRow]) -> String {
    // Strings and integers always serialise.
    serde_json::to_string_pretty(rows).unwrap_or_default()
}

/// The rows as CSV (RFC 4180: fields with `,`, `"` or line breaks are quoted).
pub fn to_csv(rows: &[ExportRow]) -> String {
    fn field(text: &str) -> String {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    }
    let mut out = String::from("rank,id,label,caption,source,date_taken\r\n");
    for r in rows {
        let rank = r.rank.map(|k| k.to_string()).unwrap_or_default();
        out.push_str(&format!(
            "{rank},{},{},{},{},{}\r\n",
            r.id,
            r.label.as_str(),
            field(&r.caption),
            field(&r.source),
            field(&r.date_taken)
        ));
    }
    out
}

/// A saved search ("save search"): the model and the index it was trained on, named by
/// `dataset.json`'s `index` (a content-named `manifest.<hash>.json`, so a rebuild with
/// other features is another index). The model's own fields stay at the top level, so a
/// search saved before the index was recorded still reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedSearch {
    /// The index manifest the model was trained on; absent in older saved searches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// The model.
    #[serde(flatten)]
    pub model: Model,
}

impl SavedSearch {
    /// The model of saved search `json`, refused when it was trained on another index than
    /// `index` (the open dataset's): its boxes would mean nothing there.
    ///
    /// # Errors
    /// The JSON is not a saved search, or it names another index.
    pub fn read(json: &str, index: &str) -> Result<Model, String> {
        let saved: SavedSearch = serde_json::from_str(json).map_err(|e| e.to_string())?;
        match &saved.index {
            Some(trained) if trained != index => Err(format!(
                "this search was trained on index {trained}, and the dataset open has {index}"
            )),
            _ => Ok(saved.model),
        }
    }
}

/// A saved search kept in the browser (IndexedDB): a name, when it was saved, and the
/// saved search's JSON as "export search" writes it, so applying one refuses another
/// index's search exactly as an imported file is refused ([`SavedSearch::read`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredSearch {
    /// The name the user gave it (or [`search_name`]'s).
    pub name: String,
    /// When it was saved, in milliseconds since 1970 (UTC).
    pub saved_ms: f64,
    /// The [`SavedSearch`] as JSON.
    pub json: String,
}

/// The name a saved search gets when the user gives none: what its query was, and after
/// how many rounds.
pub fn search_name(query: &Query, rounds: usize) -> String {
    let query = match query {
        Query::Text(text) => format!("\"{text}\""),
        Query::Like(id) => format!("like image {id}"),
        Query::Saved => "a saved search".to_owned(),
        Query::Image(name) => format!("like {name}"),
        Query::None => "labelled images".to_owned(),
    };
    match rounds {
        0 => query,
        1 => format!("{query}, 1 round"),
        n => format!("{query}, {n} rounds"),
    }
}

/// A time in milliseconds since 1970 as the saved searches list shows it, in UTC:
/// `2026-12-06 07:05 UTC`.
pub fn date_text(ms: f64) -> String {
    let minutes = (ms / 60_000.0).floor() as i64;
    let (days, minute_of_day) = (minutes.div_euclid(1440), minutes.rem_euclid(1440));
    // Days to a civil date (Howard Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_search_names_its_index_and_is_refused_on_another() {
        let model = Model::DBranches { boxes: Vec::new() };
        let saved = SavedSearch {
            index: Some("manifest.0123456789abcdef.json".to_owned()),
            model: model.clone(),
        };
        let json = serde_json::to_string(&saved).unwrap();
        assert!(json.contains(r#""searcher":"db""#), "{json}");
        assert_eq!(
            SavedSearch::read(&json, "manifest.0123456789abcdef.json"),
            Ok(model.clone())
        );
        let refused = SavedSearch::read(&json, "manifest.fedcba9876543210.json").unwrap_err();
        assert!(
            refused.contains("trained on index manifest.0123456789abcdef.json"),
            "{refused}"
        );
        // Saved before the index was recorded: the model alone, applied as before.
        let old = serde_json::to_string(&model).unwrap();
        assert_eq!(SavedSearch::read(&old, "manifest.json"), Ok(model));
        assert!(SavedSearch::read("{}", "manifest.json").is_err());
    }

    #[test]
    fn stored_searches_are_named_and_dated() {
        assert_eq!(search_name(&Query::Text("red".into()), 0), "\"red\"");
        assert_eq!(search_name(&Query::Like(7), 1), "like image 7, 1 round");
        assert_eq!(search_name(&Query::Saved, 3), "a saved search, 3 rounds");
        assert_eq!(
            search_name(&Query::Image("cat.jpg".into()), 0),
            "like cat.jpg"
        );
        assert_eq!(date_text(0.0), "1970-01-01 00:00 UTC");
        // 2026-12-06 07:05:59.999 UTC; 2000-02-29 (a leap day); before 1970.
        assert_eq!(date_text(1_796_540_759_999.0), "2026-12-06 07:05 UTC");
        assert_eq!(date_text(951_782_400_000.0), "2000-02-29 00:00 UTC");
        assert_eq!(date_text(-60_000.0), "1969-12-31 23:59 UTC");
    }

    #[test]
    fn a_search_round_trips_through_its_params() {
        let mut labels = LabelSet::default();
        labels.set_all(&[3, 1], Label::Relevant);
        labels.set(9, Label::Irrelevant);
        let search = SharedSearch {
            dataset: Some("swatches".into()),
            query: Query::Text("red, round / shiny".into()),
            labels,
            searcher: Searcher::RandomForest,
            random_negatives: 0,
            negative_weight: 7,
        };
        let params = search.to_params();
        assert!(params.contains(&("pos", "1,3".to_owned())));
        let back = SharedSearch::from_params(params.iter().map(|(n, v)| (*n, v.as_str()))).unwrap();
        assert_eq!(back, search);
        assert!(SharedSearch::default().to_params().is_empty());
    }

    #[test]
    fn malformed_params_are_named() {
        let err = SharedSearch::from_params([("pos", "1,x")]).unwrap_err();
        assert!(err.to_string().contains("pos"), "{err}");
        let err = SharedSearch::from_params([("nw", "0")]).unwrap_err();
        assert!(err.to_string().contains("1..=100"), "{err}");
        assert!(SharedSearch::from_params([("searcher", "svm")]).is_err());
        let like = SharedSearch::from_params([("like", "12"), ("other", "x")]).unwrap();
        assert_eq!(like.query, Query::Like(12));
    }

    #[test]
    fn export_lists_results_then_other_labelled_images() {
        let item = Item {
            caption: "a \"red\" swatch, round".into(),
            thumb: "thumbs/x.svg".into(),
            source: "red.png".into(),
            width: 1,
            height: 1,
            date_taken: Some("2023-05-01T14:02:33+02:00".into()),
        };
        let mut labels = LabelSet::default();
        labels.set(5, Label::Relevant);
        labels.set(8, Label::Irrelevant);
        let rows = export_rows(&[5, 6], &labels, |id| (id == 5).then_some(&item));
        let ids: Vec<_> = rows.iter().map(|r| (r.rank, r.id, r.label)).collect();
        assert_eq!(
            ids,
            [
                (Some(1), 5, Label::Relevant),
                (Some(2), 6, Label::None),
                (None, 8, Label::Irrelevant)
            ]
        );
        let csv = to_csv(&rows);
        assert!(
            csv.contains(
                "1,5,relevant,\"a \"\"red\"\" swatch, round\",red.png,2023-05-01T14:02:33+02:00\r\n"
            ),
            "{csv}"
        );
        assert!(csv.contains("\r\n,8,irrelevant,,,\r\n"), "{csv}");
        let json: serde_json::Value = serde_json::from_str(&to_json(&rows)).unwrap();
        assert_eq!(json[2]["label"], "irrelevant");
        assert_eq!(json[0]["caption"], "a \"red\" swatch, round");
        assert_eq!(json[0]["date_taken"], "2023-05-01T14:02:33+02:00");
        assert_eq!(json[1]["date_taken"], "");
    }
}
