//! Where the app's datasets come from: a catalog (`catalog.json`, with the dataset
//! switcher) or one dataset folder. The `<clip-branches-search>` element's `dataset`
//! attribute names either; [`DataSource::from_url`] tells them apart.

/// What the app opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// A `catalog.json` URL: its datasets fill the switcher, the first one opens.
    Catalog(String),
    /// A dataset folder's URL (ending in `/`): the folder that holds `dataset.json`.
    Folder(String),
}

impl DataSource {
    /// Reads an absolute URL: `…/dataset.json` is its folder, any other `….json` a
    /// catalog, anything else a dataset folder (a missing final `/` is added). The query
    /// and fragment of a URL are kept for catalogs and dropped for folders, whose files
    /// are named relative to them.
    pub fn from_url(url: &str) -> Self {
        let path_end = url.find(['?', '#']).unwrap_or(url.len());
        let path = &url[..path_end];
        if let Some(folder) = path.strip_suffix(dataset::DATASET_FILE)
            && (folder.is_empty() || folder.ends_with('/'))
        {
            return Self::Folder(folder.to_owned());
        }
        if path.ends_with(".json") {
            return Self::Catalog(url.to_owned());
        }
        if path.ends_with('/') {
            Self::Folder(path.to_owned())
        } else {
            Self::Folder(format!("{path}/"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_urls_are_catalogs_and_the_rest_folders() {
        let cases = [
            (
                "https://x.org/data/catalog.json",
                DataSource::Catalog("https://x.org/data/catalog.json".into()),
            ),
            (
                "https://x.org/c.json?v=2",
                DataSource::Catalog("https://x.org/c.json?v=2".into()),
            ),
            (
                "https://x.org/data/swatches",
                DataSource::Folder("https://x.org/data/swatches/".into()),
            ),
            (
                "https://x.org/data/swatches/",
                DataSource::Folder("https://x.org/data/swatches/".into()),
            ),
            (
                "https://x.org/data/swatches/dataset.json",
                DataSource::Folder("https://x.org/data/swatches/".into()),
            ),
            (
                "https://x.org/data/swatches?x=1#top",
                DataSource::Folder("https://x.org/data/swatches/".into()),
            ),
            (
                "https://x.org/data/my-dataset.json",
                DataSource::Catalog("https://x.org/data/my-dataset.json".into()),
            ),
        ];
        for (url, want) in cases {
            assert_eq!(DataSource::from_url(url), want, "{url}");
        }
    }
}
