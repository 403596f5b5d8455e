//! `precompute build --search FILE`: the app's search settings for a dataset
//! ([`dataset::SearchSettings`], written into `dataset.json`), read from TOML or JSON and
//! checked before the build starts, so a typo fails in a second, not after the features.
//!
//! ```toml
//! searchers = ["ens", "db"]            # offered, the default first (db, ens, dtree, rf)
//! random_negatives = { min = 0, max = 200, default = 50 }
//! negative_weight = { min = 1, max = 10, default = 3 }
//! [training]                           # branches::TrainingSettings, any of its fields
//! ensemble_models = 5
//! ```

use std::path::Path;

use anyhow::{Context, Result};
use branches::TrainingSettings;
use dataset::SearchSettings;

/// Reads and checks the search settings at `path`: TOML when it ends in `.toml`, else JSON.
///
/// # Errors
/// The file cannot be read, does not parse (the message names the field), or holds
/// settings the app cannot use (named as `search.<field>`).
pub fn read(path: &Path) -> Result<SearchSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading search settings {}", path.display()))?;
    parse(&text, path.extension().is_some_and(|e| e == "toml"))
        .with_context(|| format!("search settings {}", path.display()))
}

/// Parses and checks search settings `text`, TOML or JSON.
///
/// # Errors
/// As [`read`].
pub fn parse(text: &str, toml: bool) -> Result<SearchSettings> {
    let settings: SearchSettings = if toml {
        toml::from_str(text)?
    } else {
        SearchSettings::from_json(text)?
    };
    settings.check()?;
    serde_json::from_value::<TrainingSettings>(settings.training.clone().into())
        .context("search.training")?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_json_give_the_same_settings_and_faults_name_their_field() {
        let toml = r#"
searchers = ["ens", "db"]
random_negatives = { min = 0, max = 200, default = 50 }
[training]
ensemble_models = 5
"#;
        let json = r#"{"searchers": ["ens", "db"], "random_negatives": {"min": 0, "max": 200, "default": 50},
            "training": {"ensemble_models": 5}}"#;
        let settings = parse(toml, true).unwrap();
        assert_eq!(settings, parse(json, false).unwrap());
        assert_eq!(settings.searchers, ["ens", "db"]);
        assert_eq!(settings.training["ensemble_models"], 5);

        let fault = |text: &str, toml: bool| format!("{:#}", parse(text, toml).unwrap_err());
        let message = fault("searchers = [\"svm\"]", true);
        assert!(
            message.contains("search.searchers: unknown searcher \"svm\""),
            "{message}"
        );
        let message = fault("[training]\nensemble_model = 5", true);
        assert!(
            message.contains("search.training") && message.contains("ensemble_model"),
            "{message}"
        );
        let message = fault(
            "random_negatives = { min = 0, max = \"lots\", default = 1 }",
            true,
        );
        assert!(message.contains("max"), "{message}");
        let message = fault(
            r#"{"negative_weight": {"min": 1, "max": 5, "default": 9}}"#,
            false,
        );
        assert!(
            message.contains("search.negative_weight: default 9"),
            "{message}"
        );
    }
}
