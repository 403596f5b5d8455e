//! The `precompute` binary end to end: index, search and k-NN over real files, the
//! determinism of the output, and the message every kind of bad input gets.

use dataset::items_table::{ItemsDirectory, Located};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use index_shards::synthetic::{RareClusterSet, SyntheticConfig};
use precompute::npy::{self, Matrix};
use serde_json::Value;

fn precompute(args: &[&str]) -> Output {
    precompute_in(&[], args)
}

/// The variables a batch scheduler sets for a task of a split run: `precompute` takes its
/// part from them, so they are cleared unless a test sets them (a test run inside a Slurm
/// array task is no part of a split run).
const SCHEDULER_VARIABLES: [&str; 5] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_COUNT",
    "JOB_COMPLETION_INDEX",
];

/// `precompute ARGS` in an environment where a scheduler set `scheduler_environment`.
fn precompute_in(scheduler_environment: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_precompute"));
    for name in SCHEDULER_VARIABLES {
        command.env_remove(name);
    }
    command
        .envs(scheduler_environment.iter().copied())
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `precompute search --index INDEX --request REQUEST`.
fn run_search(index: &Path, request: &Path) -> Output {
    precompute(&[
        "search",
        "--index",
        index.to_str().unwrap(),
        "--request",
        request.to_str().unwrap(),
    ])
}

/// `precompute search`'s answer without its timings, which differ between runs.
fn answer(index: &Path, request: &Path) -> Value {
    let mut response = ok_json(run_search(index, request));
    let object = response.as_object_mut().unwrap();
    object.remove("train_ms");
    object.remove("search_ms");
    response
}

fn ok_json(output: Output) -> Value {
    assert!(output.status.success(), "failed: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

fn small_set() -> RareClusterSet {
    RareClusterSet::generate(&SyntheticConfig {
        n: 6_000,
        rare_clusters: 2,
        rare_cluster_size: 60,
        ..SyntheticConfig::default()
    })
}

/// Writes the set's features as a u8 `.npy` and indexes it into `dir/index`.
fn build_index(dir: &Path, set: &RareClusterSet) -> PathBuf {
    let features = dir.join("features.npy");
    let matrix = Matrix::U8 {
        rows: set.len(),
        cols: set.dims,
        data: set.features.clone(),
    };
    fs::write(&features, npy::write(&matrix)).unwrap();
    let index = dir.join("index");
    let out = index_features(&features, &index, &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    index
}

/// `precompute index` of `features` into `index` with the tests' leaf and shard sizes, more
/// flags, and a scheduler's environment.
fn index_features(
    features: &Path,
    index: &Path,
    extra: &[&str],
    scheduler_environment: &[(&str, &str)],
) -> Output {
    let mut args = vec![
        "index",
        "--features",
        features.to_str().unwrap(),
        "--out",
        index.to_str().unwrap(),
        "--leaf-size",
        "64",
        "--max-shard-bytes",
        "20000",
    ];
    args.extend_from_slice(extra);
    precompute_in(scheduler_environment, &args)
}

fn write_request(dir: &Path, json: &str) -> PathBuf {
    let path = dir.join("request.json");
    fs::write(&path, json).unwrap();
    path
}

fn sorted_listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    // The files served; `.work` (the trees' records) is no part of the index.
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(Result::unwrap)
        .filter(|e| e.file_name() != ".work")
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn index_search_and_knn_find_a_rare_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let set = small_set();
    let index = build_index(dir.path(), &set);
    assert!(
        sorted_listing(&index).len() > 10,
        "the index is split into shards"
    );

    let cluster = &set.clusters[0];
    let positives: Vec<u32> = cluster.iter().copied().take(20).collect();
    let request = write_request(
        dir.path(),
        &format!(
            r#"{{"positives": {positives:?}, "random_negatives": 300, "searcher": "ens", "seed": 7}}"#
        ),
    );
    let response = ok_json(run_search(&index, &request));
    let results: Vec<u32> =
        serde_json::from_value(response["results"].clone()).expect("a list of ids");
    assert_eq!(response["count"].as_u64(), Some(results.len() as u64));
    let found = results
        .iter()
        .filter(|id| cluster.binary_search(id).is_ok())
        .count();
    assert!(
        found >= cluster.len() * 9 / 10,
        "found {found} of {} members",
        cluster.len()
    );
    assert!(
        results.len() <= cluster.len() * 11 / 10,
        "{} results",
        results.len()
    );
    assert!(
        response["sql"][0]
            .as_str()
            .unwrap()
            .starts_with("SELECT * FROM images WHERE")
    );
    assert!(response["train_ms"].as_f64().is_some() && response["search_ms"].as_f64().is_some());

    // The query is a member's own feature row: it is its own nearest neighbour.
    let member = cluster[3];
    let query = dir.path().join("query.npy");
    let row = set.row(member).to_vec();
    fs::write(
        &query,
        npy::write(&Matrix::U8 {
            rows: 1,
            cols: set.dims,
            data: row,
        }),
    )
    .unwrap();
    let exact = ok_json(knn(&index, &query, 10, &["--exact"]));
    let tree = ok_json(knn(&index, &query, 10, &["--stop-leaves", "0"]));
    assert_eq!(exact["results"][0][0].as_u64(), Some(u64::from(member)));
    assert_eq!(exact["distances"][0][0].as_u64(), Some(0));
    assert_eq!(exact, tree, "an unlimited tree search is exact");
}

/// `precompute knn` over `index` for the rows of `query` (an npy file), `k` each, with `more`.
fn knn(index: &Path, query: &Path, k: usize, more: &[&str]) -> Output {
    let k = k.to_string();
    let args = [
        "knn",
        "--index",
        index.to_str().unwrap(),
        "--query",
        query.to_str().unwrap(),
        "--k",
        &k,
    ];
    precompute(&[&args[..], more].concat())
}

#[test]
fn partitioned_knn_reads_only_the_probed_lists_and_all_of_them_are_the_exact_scan() {
    let dir = tempfile::tempdir().unwrap();
    let set = small_set();
    // Below 100,000 images an index has no k-NN lists unless asked for.
    let small = build_index(dir.path(), &set);
    let features = dir.path().join("features.npy");
    let index = dir.path().join("partitioned");
    let index_args = |lists: &str| {
        let out = precompute(&[
            "index",
            "--features",
            features.to_str().unwrap(),
            "--out",
            index.to_str().unwrap(),
            "--knn-lists",
            lists,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    index_args("16");
    let knn_files = |dir: &Path| {
        sorted_listing(dir)
            .into_iter()
            .filter(|(name, _)| name.starts_with("knn-"))
            .count()
    };
    assert_eq!(knn_files(&index), 17);
    let row_files = |dir: &Path| {
        sorted_listing(dir)
            .into_iter()
            .filter(|(name, _)| name.starts_with("rows-"))
            .count()
    };
    // Blocks of 256 rows, one page, the top table and the pool.
    assert_eq!(row_files(&index), set.len().div_ceil(256) + 3);
    let verified = precompute(&["verify", "--index-only", index.to_str().unwrap()]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    // The stored pool is the one every reader draws: the same answers as without it.
    let request = write_request(dir.path(), r#"{"positives": [1, 2, 3], "negatives": [4]}"#);
    assert_eq!(answer(&index, &request), answer(&small, &request));
    // A damaged block is a fault that verify names.
    let (block, _) = sorted_listing(&index)
        .into_iter()
        .find(|(name, _)| name.starts_with("rows-0000001."))
        .unwrap();
    let saved = fs::read(index.join(&block)).unwrap();
    let mut damaged = saved.clone();
    damaged[0] ^= 1;
    fs::write(index.join(&block), &damaged).unwrap();
    let verified = precompute(&["verify", "--index-only", index.to_str().unwrap()]);
    assert!(!verified.status.success());
    let faults = String::from_utf8_lossy(&verified.stdout);
    assert!(faults.contains(&block), "{faults}");
    fs::write(index.join(&block), saved).unwrap();

    let query = dir.path().join("queries.npy");
    let rows: Vec<u8> = [5u32, 999, 4_321]
        .iter()
        .flat_map(|&id| set.row(id).to_vec())
        .collect();
    fs::write(
        &query,
        npy::write(&Matrix::U8 {
            rows: 3,
            cols: set.dims,
            data: rows,
        }),
    )
    .unwrap();
    let knn = |index: &Path, more: &[&str]| knn(index, &query, 60, more);
    let exact = ok_json(knn(&index, &["--exact"]));
    let every_list = knn(&index, &["--partitioned", "--nprobe", "16"]);
    assert!(
        stderr(&every_list).contains("read 17 files"),
        "{}",
        stderr(&every_list)
    );
    assert_eq!(ok_json(every_list), exact);
    let two_lists = knn(&index, &["--partitioned", "--nprobe", "2"]);
    let report = stderr(&two_lists);
    assert!(report.contains("nprobe at most 2 of 16 lists"), "{report}");
    let files: usize = report
        .split("read ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a count of files read");
    assert!((2..=7).contains(&files), "{report}");
    assert_eq!(ok_json(two_lists)["results"][0][0].as_u64(), Some(5));

    let refused = knn(&small, &["--partitioned"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("the index has no partitioned k-NN"),
        "{}",
        stderr(&refused)
    );
    // Indexed again without lists: the old lists are stale and go.
    index_args("0");
    assert_eq!(knn_files(&index), 0);
    assert_eq!(row_files(&index), 0);
}

#[test]
fn the_same_features_give_the_same_shards_and_answers() {
    let set = small_set();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (index_a, index_b) = (build_index(a.path(), &set), build_index(b.path(), &set));
    assert_eq!(sorted_listing(&index_a), sorted_listing(&index_b));

    let request = write_request(a.path(), r#"{"positives": [1, 2, 3], "negatives": [4]}"#);
    assert_eq!(answer(&index_a, &request), answer(&index_b, &request));

    // Indexing again into the same folder keeps it valid and identical.
    build_index(a.path(), &set);
    assert_eq!(sorted_listing(&index_a), sorted_listing(&index_b));
}

#[test]
fn an_index_split_into_parts_equals_the_whole_and_other_inputs_are_built_again() {
    let set = small_set();
    let (whole, split) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let whole_index = build_index(whole.path(), &set);
    let features = whole.path().join("features.npy");
    let index = split.path().join("index");
    let index_args = |extra: &[&str], environment: &[(&str, &str)]| {
        let out = index_features(&features, &index, extra, environment);
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };
    // Part 0 of 2 by flag, part 1 as a Slurm array task: each records its trees only.
    let first = index_args(&["--part", "0/2"], &[]);
    assert!(first.contains("part 0/2: 52 trees recorded"), "{first}");
    assert!(!index.join("manifest.json").exists());
    let slurm = [
        ("SLURM_ARRAY_TASK_ID", "1"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_COUNT", "2"),
    ];
    let second = index_args(&[], &slurm);
    assert!(second.contains("part 1/2: 52 trees recorded"), "{second}");
    let records = |dir: &Path| fs::read_dir(dir.join(".work/trees")).unwrap().count();
    assert_eq!(records(&index), 104);
    // The finishing run builds no tree: it lists the recorded ones.
    let finish = index_args(&[], &[]);
    assert!(
        finish.contains("trees: 104 reused from earlier runs, 0 built"),
        "{finish}"
    );
    assert_eq!(sorted_listing(&index), sorted_listing(&whole_index));

    // Other features: the records do not match, every tree is built again, and the index
    // equals a whole build of the new features.
    let mut other = set.features.clone();
    other[0] ^= 0xff;
    let matrix = Matrix::U8 {
        rows: set.len(),
        cols: set.dims,
        data: other,
    };
    fs::write(&features, npy::write(&matrix)).unwrap();
    let rebuilt_part = index_args(&["--part", "0/2"], &[]);
    assert!(
        rebuilt_part.contains("trees: 0 reused from earlier runs, 52 built"),
        "{rebuilt_part}"
    );
    let rest = index_args(&[], &[]);
    assert!(
        rest.contains("trees: 52 reused from earlier runs, 52 built"),
        "{rest}"
    );
    let fresh = tempfile::tempdir().unwrap();
    let out = index_features(&features, &fresh.path().join("index"), &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        sorted_listing(&index),
        sorted_listing(&fresh.path().join("index"))
    );
}

#[test]
fn bad_input_gets_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let set = small_set();
    let index = build_index(dir.path(), &set);
    let index_arg = index.to_str().unwrap();

    // A .npy of the wrong dtype and of the wrong shape.
    let int64 = dir.path().join("int64.npy");
    let mut bytes = npy::write(&Matrix::U8 {
        rows: 1,
        cols: 8,
        data: vec![0; 8],
    });
    let at = bytes.windows(3).position(|w| w == b"|u1").unwrap();
    bytes[at..at + 3].copy_from_slice(b"<i8");
    fs::write(&int64, &bytes).unwrap();
    let out = precompute(&[
        "index",
        "--features",
        int64.to_str().unwrap(),
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("int64.npy") && stderr(&out).contains("'<i8' is not supported"),
        "{}",
        stderr(&out)
    );

    let wide = dir.path().join("wide.npy");
    fs::write(
        &wide,
        npy::write(&Matrix::U8 {
            rows: 1,
            cols: 7,
            data: vec![0; 7],
        }),
    )
    .unwrap();
    let out = precompute(&[
        "knn",
        "--index",
        index_arg,
        "--query",
        wide.to_str().unwrap(),
    ]);
    assert!(
        stderr(&out).contains("queries have 7 dims, the index has 32"),
        "{}",
        stderr(&out)
    );

    // Requests: no positives, an id out of range, an unknown field, broken JSON.
    for (json, expected) in [
        (r#"{"positives": []}"#, "positive"),
        (r#"{"positives": [6000]}"#, "6000"),
        (r#"{"positives": [1], "negatives": [1]}"#, "1"),
        (r#"{"positives": [1], "searcher": "svm"}"#, "svm"),
        (r#"{"positives": [1], "colour": 3}"#, "colour"),
        ("{\"positives\": [1,\n", "line 2"),
    ] {
        let request = write_request(dir.path(), json);
        let out = run_search(&index, &request);
        assert!(!out.status.success(), "{json} was accepted");
        assert!(stderr(&out).contains(expected), "{json}: {}", stderr(&out));
    }

    // A corrupt shard: named in the error, and nothing is searched.
    let shard = fs::read_dir(&index)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().contains("leaves"))
        .unwrap();
    let mut bytes = fs::read(&shard).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&shard, &bytes).unwrap();
    let request = write_request(dir.path(), r#"{"positives": [1]}"#);
    let out = run_search(&index, &request);
    assert!(!out.status.success());
    let name = shard.file_name().unwrap().to_str().unwrap();
    assert!(stderr(&out).contains(name), "{}", stderr(&out));
}

#[test]
fn tokenize_prints_open_clip_ids_without_padding() {
    // Reference ids from open_clip, committed with the clip crate's fixtures.
    let corpus: Value = serde_json::from_slice(
        &fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../clip/fixtures/tokenizer_corpus.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let texts = corpus["texts"].as_array().unwrap();
    let ids = corpus["ids"].as_array().unwrap();
    let mut args = vec!["tokenize"];
    for text in texts.iter().take(5) {
        args.extend(["--text", text.as_str().unwrap()]);
    }
    let out = precompute(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    for (line, expected) in lines.iter().zip(ids) {
        let expected: Vec<u64> = expected
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let end = expected.iter().rposition(|&id| id == 49407).unwrap() + 1;
        assert_eq!(line.as_array().unwrap().len(), end);
        assert_eq!(line, &serde_json::json!(expected[..end]));
    }
}

#[test]
fn free_text_options_take_values_that_begin_with_a_dash() {
    // open_clip's ids; `<end_of_text>` typed as text is the end token itself.
    let out = precompute(&[
        "tokenize",
        "--text",
        "-741.82 hundred",
        "--text",
        "<end_of_text>",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "[49406,268,278,275,272,269,279,273,11898,49407]\n[49406,49407,49407]\n"
    );

    let hf = fixture_path("hf");
    let out = ok_json(precompute(&[
        "encode",
        "--model",
        hf.to_str().unwrap(),
        "--text",
        "-741.82 hundred",
    ]));
    assert_eq!(out["text"].as_array().unwrap().len(), 1);

    // Table columns are names a table chose: `-note` is one.
    let dir = tempfile::tempdir().unwrap();
    for (name, blue) in [("a.png", 9), ("b.png", 200)] {
        image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 4, y as u8 * 4, blue]))
            .save(dir.path().join(name))
            .unwrap();
    }
    let table = dir.path().join("table.csv");
    fs::write(&table, "-file,-note\na.png,-a dash first\nb.png,a cat\n").unwrap();
    let out_dir = dir.path().join("out");
    let out = precompute(&[
        "ingest",
        "--input",
        table.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--file-column",
        "-file",
        "--caption-column",
        "-note",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value =
        serde_json::from_slice(&fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        (&report["ingested"], &report["uncaptioned"]),
        (&2.into(), &0.into()),
        "{report}"
    );
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../clip/fixtures")
        .join(name)
}

fn reference(name: &str) -> clip::TensorMap {
    clip::TensorMap::from_safetensors(&fs::read(fixture_path(name)).unwrap()).unwrap()
}

fn feature_rows(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter())
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// `precompute encode` on the tiny Hugging Face and open_clip fixtures: texts, image files
/// (PNG, so decoding is lossless) and the preprocessed tensor, each within 1e-4 of PyTorch.
#[test]
fn encode_prints_reference_features_for_both_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let corpus: Value =
        serde_json::from_slice(&fs::read(fixture_path("tokenizer_corpus.json")).unwrap()).unwrap();
    for (model, reference_file) in [
        (fixture_path("hf"), "hf.reference.safetensors"),
        (
            fixture_path("open_clip.safetensors"),
            "open_clip.reference.safetensors",
        ),
    ] {
        let reference = reference(reference_file);
        let texts = reference.get("text_ids").unwrap().shape[0];
        let mut args: Vec<String> = vec!["encode".into(), "--model".into()];
        args.push(model.to_str().unwrap().into());
        for text in corpus["texts"].as_array().unwrap().iter().take(texts) {
            args.extend(["--text".into(), text.as_str().unwrap().into()]);
        }
        let pixels = reference.get("image_pixels").unwrap();
        for i in 0..pixels.shape[0] {
            let rgb = reference.get(&format!("image_rgb.{i}")).unwrap();
            let bytes: Vec<u8> = rgb.values.iter().map(|&v| v as u8).collect();
            let path = dir.path().join(format!("{reference_file}.{i}.png"));
            image::RgbImage::from_raw(rgb.shape[1] as u32, rgb.shape[0] as u32, bytes)
                .unwrap()
                .save(&path)
                .unwrap();
            args.extend(["--image".into(), path.to_str().unwrap().into()]);
        }
        let tensor = dir.path().join(format!("{reference_file}.npy"));
        let array = npy::Array {
            shape: pixels.shape.clone(),
            values: npy::Values::F32(pixels.values.clone()),
        };
        fs::write(&tensor, npy::write_array(&array)).unwrap();
        args.extend(["--tensor".into(), tensor.to_str().unwrap().into()]);

        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ok_json(precompute(&args));
        let text_expected = &reference.get("text_features").unwrap().values;
        let image_expected = &reference.get("image_features").unwrap().values;
        for (key, expected) in [
            ("text", text_expected),
            ("image", image_expected),
            ("tensor", image_expected),
        ] {
            let diff = max_abs_diff(&feature_rows(&out[key]), expected);
            assert!(diff <= 1e-4, "{reference_file} {key}: max abs diff {diff}");
        }
    }
}

#[test]
fn encode_bad_input_gets_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let hf = fixture_path("hf");
    let hf = hf.to_str().unwrap();
    let not_image = dir.path().join("notes.png");
    fs::write(&not_image, b"not an image").unwrap();
    let wrong_shape = dir.path().join("wrong.npy");
    let array = npy::Array {
        shape: vec![1, 3, 8, 8],
        values: npy::Values::F32(vec![0.0; 3 * 64]),
    };
    fs::write(&wrong_shape, npy::write_array(&array)).unwrap();
    let empty_folder = dir.path().join("empty-model");
    fs::create_dir(&empty_folder).unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--model", hf], "nothing to encode"),
        (
            vec!["--model", hf, "--image", not_image.to_str().unwrap()],
            "notes.png",
        ),
        (
            vec!["--model", hf, "--tensor", wrong_shape.to_str().unwrap()],
            "expected (n, 3, 32, 32)",
        ),
        (
            vec!["--model", empty_folder.to_str().unwrap(), "--text", "a"],
            "config.json is missing",
        ),
    ];
    for (args, expected) in cases {
        let mut full = vec!["encode"];
        full.extend(args);
        let out = precompute(&full);
        assert!(!out.status.success(), "{full:?} succeeded");
        assert!(
            stderr(&out).contains(expected),
            "{full:?}: {}",
            stderr(&out)
        );
    }
}

/// Writes `count` small varied PNGs and their list file; returns the list's path.
fn image_list(dir: &Path, count: usize) -> PathBuf {
    let mut list = String::new();
    for i in 0..count {
        let name = format!("img-{i:04}.png");
        let (w, h) = (24 + (i % 7) as u32 * 5, 30 + (i % 5) as u32 * 4);
        image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 9 + i as u32) as u8, (y * 7) as u8, (i * 37) as u8])
        })
        .save(dir.join(&name))
        .unwrap();
        list.push_str(&name);
        list.push('\n');
    }
    let path = dir.join("images.txt");
    fs::write(&path, list).unwrap();
    path
}

fn extract_args<'a>(list: &'a str, out: &'a str, model: &'a str) -> Vec<&'a str> {
    vec![
        "extract", "--list", list, "--model", model, "--out", out, "--chunk", "3", "--batch", "2",
    ]
}

/// Parts merged, a resumed run and one run give byte-identical features.
#[test]
fn extract_parts_and_resume_give_the_same_features() {
    let dir = tempfile::tempdir().unwrap();
    let list = image_list(dir.path(), 11);
    let list = list.to_str().unwrap();
    let model = fixture_path("hf");
    let model = model.to_str().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (single, part0, part1, merged) = (path("single"), path("p0"), path("p1"), path("merged"));

    let out = precompute(&extract_args(list, &single, model));
    assert!(out.status.success(), "{}", stderr(&out));
    let reference = fs::read(Path::new(&single).join("features.npy")).unwrap();
    let matrix = npy::read(&reference).unwrap();
    assert_eq!(matrix.shape(), (11, 12));

    for (part, out_dir) in [("0/2", &part0), ("1/2", &part1)] {
        let mut args = extract_args(list, out_dir, model);
        args.extend(["--part", part]);
        let out = precompute(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(!Path::new(out_dir).join("features.npy").exists());
    }
    let out = precompute(&["merge", "--out", &merged, &part0]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("lack 2 of 4 chunks"),
        "{}",
        stderr(&out)
    );
    let out = precompute(&["merge", "--out", &merged, &part0, &part1]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read(Path::new(&merged).join("features.npy")).unwrap(),
        reference
    );

    // Resume: a lost checkpoint is recomputed, the rest reused.
    fs::remove_file(Path::new(&single).join("chunks/chunk-000002.npy")).unwrap();
    fs::remove_file(Path::new(&single).join("features.npy")).unwrap();
    let out = precompute(&extract_args(list, &single, model));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read(Path::new(&single).join("features.npy")).unwrap(),
        reference
    );

    // Another chunk size in the same folder is refused, not mixed in.
    let mut args = extract_args(list, &single, model);
    args[8] = "5";
    let out = precompute(&args);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("another run"), "{}", stderr(&out));
}

/// SIGKILL in the middle of extract, then a rerun: the same bytes as an uninterrupted run.
#[test]
fn extract_killed_midway_resumes_to_identical_features() {
    let dir = tempfile::tempdir().unwrap();
    let list = image_list(dir.path(), 300);
    let list = list.to_str().unwrap();
    let model = fixture_path("hf");
    let model = model.to_str().unwrap();
    let whole = dir.path().join("whole");
    let killed = dir.path().join("killed");
    let args = |out: &Path| {
        let mut a: Vec<String> = extract_args(list, out.to_str().unwrap(), model)
            .into_iter()
            .map(String::from)
            .collect();
        a[8] = "1".into();
        a
    };
    let out = Command::new(env!("CARGO_BIN_EXE_precompute"))
        .args(args(&whole))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let mut child = Command::new(env!("CARGO_BIN_EXE_precompute"))
        .args(args(&killed))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first = killed.join("chunks/chunk-000000.npy");
    while !first.exists() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = fs::read_dir(killed.join("chunks")).unwrap().count();
    assert!(
        done < 300 && !killed.join("features.npy").exists(),
        "the run finished before the kill ({done} chunks): the test did not interrupt it"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_precompute"))
        .args(args(&killed))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read(killed.join("features.npy")).unwrap(),
        fs::read(whole.join("features.npy")).unwrap()
    );
}

/// 90 small noisy red, green and blue squares with captions in `dir/photos`.
fn colour_squares(dir: &Path) -> PathBuf {
    let source = dir.join("photos");
    fs::create_dir(&source).unwrap();
    let colours = [
        ("red", [220, 30, 30]),
        ("green", [30, 200, 40]),
        ("blue", [30, 40, 220]),
    ];
    for i in 0..90u32 {
        let (name, rgb) = colours[i as usize % 3];
        image::RgbImage::from_fn(40 + i % 7, 36 + i % 5, |x, y| {
            let noise = ((x * 31 + y * 17 + i * 7) % 23) as u8;
            image::Rgb([rgb[0] ^ noise, rgb[1] ^ noise, rgb[2] ^ noise])
        })
        .save(source.join(format!("img{i:03}.png")))
        .unwrap();
        fs::write(
            source.join(format!("img{i:03}.txt")),
            format!("a {name} square {i}"),
        )
        .unwrap();
    }
    source
}

/// `precompute build` of `source` (such as [`colour_squares`]) with `model` into `out` at
/// 8 dims, with `extra` flags.
fn build_colours(source: &Path, model: &Path, out: &Path, extra: &[&str]) -> Output {
    build_colours_in(&[], source, model, out, extra)
}

/// [`build_colours`] in a scheduler's task (see [`precompute_in`]).
fn build_colours_in(
    scheduler_environment: &[(&str, &str)],
    source: &Path,
    model: &Path,
    out: &Path,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "build",
        "--input",
        source.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--dims",
        "8",
    ];
    args.extend_from_slice(extra);
    precompute_in(scheduler_environment, &args)
}

/// Every file of a dataset folder and its thumbnails, with its blake3, sorted.
fn dataset_listing(root: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = ["", "thumbs"]
        .iter()
        .flat_map(|sub| fs::read_dir(root.join(sub)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.strip_prefix(root).unwrap().display().to_string();
            let hash = blake3::hash(&fs::read(&p).unwrap()).to_hex().to_string();
            (name, hash)
        })
        .collect();
    files.sort();
    files
}

/// `precompute build` on a captioned folder: a dataset that verifies clean, searches, and
/// comes out byte-identical when built again.
#[test]
fn build_makes_a_verified_deterministic_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let source = colour_squares(dir.path());
    let model = fixture_path("hf");
    let build = |out: &Path| {
        build_colours(
            &source,
            &model,
            out,
            &["--full-features", "--name", "colours"],
        )
    };
    let first = dir.path().join("first");
    let stats = ok_json(build(&first));
    assert_eq!(stats["images"], 90);
    assert_eq!(
        (
            stats["captioned"].as_u64(),
            stats["recall_queries"].as_u64()
        ),
        (Some(90), Some(90))
    );
    let recall = stats["caption_recall_at_60"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&recall), "{recall}");
    let out = precompute(&["verify", first.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let manifest: Value =
        serde_json::from_slice(&fs::read(first.join("dataset.json")).unwrap()).unwrap();
    assert_eq!(manifest["count"], 90);
    assert_eq!(manifest["dims"], 8);
    assert_eq!(manifest["text"]["reduction"]["kind"], "pca");
    assert_eq!(manifest["full_features"]["dims"], 12);

    // The index answers a search by classification over the built folder.
    let request = write_request(
        dir.path(),
        r#"{"positives": [0, 3, 6, 9], "negatives": [1, 2, 4, 5], "searcher": "dtree"}"#,
    );
    let answer = ok_json(run_search(&first, &request));
    assert!(answer["count"].as_u64().unwrap() >= 1);

    let second = dir.path().join("second");
    assert!(build(&second).status.success());
    assert_eq!(dataset_listing(&first), dataset_listing(&second));

    // A text config that does not fit the weights would fail in every visitor's browser.
    let mut manifest = manifest;
    let layers = manifest["text"]["config"]["num_hidden_layers"]
        .as_u64()
        .unwrap();
    manifest["text"]["config"]["num_hidden_layers"] = (layers + 1).into();
    fs::write(
        second.join("dataset.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let out = precompute(&["verify", second.to_str().unwrap()]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("text-encoder.") && stdout.contains("does not fit the weights"),
        "{stdout}"
    );
}

/// `precompute build` ships the image tower for queries by image (int8 by default, in the
/// text encoder's PCA space): the shipped tower, on clip's packed int8 kernels as the browser
/// runs it, gives an image's feature within int8's error of the one precompute indexed; and
/// `--search FILE` writes the app's search settings, a bad one refused naming the field.
#[test]
fn build_ships_the_image_encoder_and_the_search_settings() {
    let dir = tempfile::tempdir().unwrap();
    let source = colour_squares(dir.path());
    let model = fixture_path("hf");
    let settings = dir.path().join("search.toml");
    fs::write(
        &settings,
        "searchers = [\"ens\", \"db\"]\nrandom_negatives = { min = 0, max = 100, default = 20 }\n",
    )
    .unwrap();
    let out = dir.path().join("colours");
    let search = ["--full-features", "--search", settings.to_str().unwrap()];
    ok_json(build_colours(&source, &model, &out, &search));
    let manifest: Value =
        serde_json::from_slice(&fs::read(out.join("dataset.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["search"]["searchers"],
        serde_json::json!(["ens", "db"])
    );
    assert_eq!(manifest["search"]["random_negatives"]["default"], 20);
    let image = &manifest["image"];
    assert_eq!(image["reduction"], manifest["text"]["reduction"], "{image}");
    assert_eq!(image["bottom_crop"], 0);
    let verified = precompute(&["verify", out.to_str().unwrap()]);
    assert!(verified.status.success(), "{}", stderr(&verified));

    // Image 0's feature through the shipped tower, as the browser computes it, against the
    // full-dimension feature precompute stored for it.
    let weights = fs::read(out.join(image["weights"]["name"].as_str().unwrap())).unwrap();
    assert!(
        clip::export::holds_int8(&weights).unwrap(),
        "int8 by default"
    );
    let config: clip::VisionConfig = serde_json::from_value(image["config"].clone()).unwrap();
    let width = image["projection_dim"].as_u64().unwrap() as usize;
    let tower = clip::TensorMap::from_safetensors(&weights)
        .unwrap()
        .into_image_tower(&config, width, &burn::tensor::Device::flex())
        .unwrap();
    let packed = clip::packed::PackedImageTower::new(
        &tower,
        config.layer_norm_eps,
        clip::packed::PackedPrecision::Int8,
    )
    .unwrap();
    // Every item's source, in id order, read through the items table.
    let table: dataset::ItemsTable = serde_json::from_value(manifest["items"].clone()).unwrap();
    let mut directory = ItemsDirectory::new(table.clone());
    let mut sources = Vec::new();
    for k in 0..table.chunks {
        let chunk = loop {
            match directory.locate(k).unwrap() {
                Located::Chunk(file) => break file,
                Located::Table(file) => directory
                    .add(&file, &fs::read(out.join(&file.name)).unwrap())
                    .unwrap(),
            }
        };
        let items: dataset::ItemsChunk =
            serde_json::from_slice(&fs::read(out.join(&chunk.name)).unwrap()).unwrap();
        sources.extend(items.items.into_iter().map(|item| item.source));
    }
    let item_source = |id: u64| sources[id as usize].clone();
    let full_file = manifest["full_features"]["files"][0]["name"]
        .as_str()
        .unwrap();
    let full = fs::read(out.join(full_file)).unwrap();
    for id in [0u64, 1, 2, 47] {
        let picture = image::open(source.join(item_source(id)))
            .unwrap()
            .into_rgb8();
        let rgb = clip::RgbImage::new(
            picture.width() as usize,
            picture.height() as usize,
            picture.as_raw(),
        )
        .unwrap();
        let preprocess = clip::PreprocessConfig {
            image_size: config.image_size,
            ..Default::default()
        };
        let feature = packed
            .forward(&preprocess.preprocess(&rgb).unwrap())
            .unwrap();
        let stored: Vec<f32> = full[id as usize * width..][..width]
            .iter()
            .map(|&b| f32::from(b as i8))
            .collect();
        let dot: f32 = feature.iter().zip(&stored).map(|(a, b)| a * b).sum();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let cosine = dot / (norm(&feature) * norm(&stored));
        assert!(
            cosine >= 0.99,
            "image {id}: cosine {cosine} to the stored feature"
        );
    }

    // Without the image tower; and search settings the app cannot use.
    let bare = dir.path().join("bare");
    ok_json(build_colours(
        &source,
        &model,
        &bare,
        &["--image-precision", "none"],
    ));
    let manifest: Value =
        serde_json::from_slice(&fs::read(bare.join("dataset.json")).unwrap()).unwrap();
    assert!(manifest.get("image").is_none(), "{manifest}");
    assert!(!fs::read_dir(&bare).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("image-encoder.")
    }));
    fs::write(&settings, "searchers = [\"ens\", \"knn\"]\n").unwrap();
    let refused = build_colours(&source, &model, &dir.path().join("no"), &search);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains("search.toml") && message.contains("searchers"),
        "{message}"
    );
}

/// The dataset's index manifest is named by its content, as every file but `dataset.json`
/// is: a rebuild switches a served folder with the one rename of `dataset.json`, so no
/// reader pairs one build's `dataset.json` with another's index. `verify` checks the name
/// against the bytes; a rerun repairs them and removes an older layout's `manifest.json`.
#[test]
fn the_index_manifest_is_content_named_so_one_rename_switches_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let source = colour_squares(dir.path());
    let model = fixture_path("hf");
    let out = dir.path().join("served");
    let build = || {
        let built = build_colours(&source, &model, &out, &[]);
        assert!(built.status.success(), "{}", stderr(&built));
    };
    let verify = || precompute(&["verify", out.to_str().unwrap()]);
    build();
    let dataset: Value =
        serde_json::from_slice(&fs::read(out.join("dataset.json")).unwrap()).unwrap();
    let index = dataset["index"].as_str().unwrap().to_owned();
    let bytes = fs::read(out.join(&index)).unwrap();
    let hash = blake3::hash(&bytes).to_hex();
    assert_eq!(index, format!("manifest.{}.json", &hash[..16]));
    assert!(!out.join("manifest.json").exists());
    let listing = dataset_listing(&out);

    // An older build's unhashed manifest left beside it, and a flipped byte in the named one.
    fs::write(out.join("manifest.json"), &bytes).unwrap();
    let mut flipped = bytes.clone();
    let at = flipped.iter().position(u8::is_ascii_digit).unwrap();
    flipped[at] = if flipped[at] == b'9' {
        b'8'
    } else {
        flipped[at] + 1
    };
    fs::write(out.join(&index), &flipped).unwrap();
    let verified = verify();
    assert!(!verified.status.success());
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(
        stdout.contains(&index) && stdout.contains("not the"),
        "{stdout}"
    );

    build();
    let verified = verify();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    assert_eq!(dataset_listing(&out), listing);
}

/// The issue's probe: a rebuild killed in its ingest stage had already deleted the old
/// item chunks and thumbnails, so the served folder failed to verify until a rerun. A
/// rebuild stopped after ingest (here by `--part`) leaves the old dataset whole; a
/// finished one replaces it and removes the old files.
#[test]
fn an_unfinished_rebuild_leaves_the_served_dataset_whole() {
    let dir = tempfile::tempdir().unwrap();
    let source = colour_squares(dir.path());
    let model = fixture_path("hf");
    let out = dir.path().join("served");
    let build = |extra: &[&str]| build_colours(&source, &model, &out, extra);
    let verify = || precompute(&["verify", out.to_str().unwrap()]);
    assert!(build(&[]).status.success());
    for i in 0..30 {
        fs::remove_file(source.join(format!("img{i:03}.png"))).unwrap();
    }
    let unfinished = build(&["--part", "0/2"]);
    assert!(unfinished.status.success(), "{}", stderr(&unfinished));
    let verified = verify();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );

    assert!(build(&[]).status.success());
    let verified = verify();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    let manifest: Value =
        serde_json::from_slice(&fs::read(out.join("dataset.json")).unwrap()).unwrap();
    assert_eq!(manifest["count"], 60);
    assert_eq!(fs::read_dir(out.join("thumbs")).unwrap().count(), 60);
}

/// `precompute build` on a camera's folder (`IMG_0001.png` ..., no sidecar captions): every
/// image is built without a caption, and the caption recall is left out, saying why.
#[test]
fn build_takes_a_camera_folder_without_captions() {
    let dir = tempfile::tempdir().unwrap();
    let source = colour_squares(dir.path());
    for i in 0..90u32 {
        fs::remove_file(source.join(format!("img{i:03}.txt"))).unwrap();
        fs::rename(
            source.join(format!("img{i:03}.png")),
            source.join(format!("IMG_{:04}.png", i + 1)),
        )
        .unwrap();
    }
    let out = dir.path().join("camera");
    let output = build_colours(&source, &fixture_path("hf"), &out, &[]);
    let log = stderr(&output);
    let stats = ok_json(output);
    assert_eq!(stats["images"], 90);
    assert_eq!(stats["captioned"], 0);
    assert!(stats["caption_recall_at_60"].is_null(), "{stats}");
    assert!(
        log.contains("ingested 90 items (90 without a caption), skipped 0"),
        "{log}"
    );
    assert!(
        log.contains("no item has a caption, so no caption recall"),
        "{log}"
    );
    let report: Value =
        serde_json::from_slice(&fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["uncaptioned"], 90);
    let out = precompute(&["verify", out.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Features are cached by image content and model: a rebuild after adding 10 images
/// extracts only those 10, one after removing images extracts none, and each gives the
/// dataset a clean build of the same folder gives, byte for byte.
#[test]
fn build_after_adding_images_extracts_only_them() {
    let dir = tempfile::tempdir().unwrap();
    let source = colour_squares(dir.path());
    let model = fixture_path("hf");
    let later = dir.path().join("later");
    fs::create_dir(&later).unwrap();
    let names: Vec<String> = (40..50u32)
        .flat_map(|i| [format!("img{i:03}.png"), format!("img{i:03}.txt")])
        .collect();
    for name in &names {
        fs::rename(source.join(name), later.join(name)).unwrap();
    }
    let out = dir.path().join("served");
    // Named alike: the name is in dataset.json.
    let build = |out: &Path| build_colours(&source, &model, out, &["--name", "photos"]);
    let extracted = |output: Output| ok_json(output)["features_extracted"].as_u64();
    assert_eq!(extracted(build(&out)), Some(80));
    for name in &names {
        fs::rename(later.join(name), source.join(name)).unwrap();
    }
    assert_eq!(extracted(build(&out)), Some(10));
    let clean = dir.path().join("clean");
    assert_eq!(extracted(build(&clean)), Some(90));
    assert_eq!(dataset_listing(&out), dataset_listing(&clean));

    for i in 0..5 {
        fs::remove_file(source.join(format!("img{i:03}.png"))).unwrap();
    }
    assert_eq!(extracted(build(&out)), Some(0));
    let clean = dir.path().join("clean-after-removal");
    assert_eq!(extracted(build(&clean)), Some(85));
    assert_eq!(dataset_listing(&out), dataset_listing(&clean));
}

/// Every file under `root` with its size and modification time (files that vanish while
/// listed are left out): a build's progress is a change of this listing.
fn tree_state(root: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut state = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                folders.push(entry.path());
            } else if let Ok(modified) = meta.modified() {
                state.push((entry.path(), meta.len(), modified));
            }
        }
    }
    state.sort();
    state
}

/// What a visitor's browser needs of a served dataset folder: every file `dataset.json`
/// names (item chunks and their thumbnails, the text encoder, the full features, the
/// index manifest, which agrees with it) and every shard the index manifest names, at its
/// size. A `dataset.json` replaced while it was checked is read again, as a browser that
/// reloads would.
fn served_folder_is_whole(root: &Path) -> Result<(), String> {
    let present = |name: &str, bytes: u64| match fs::metadata(root.join(name)) {
        Ok(meta) if meta.is_file() && meta.len() == bytes => Ok(()),
        Ok(meta) => Err(format!("{name}: {} bytes, named with {bytes}", meta.len())),
        Err(e) => Err(format!("{name}: {e}")),
    };
    let check = |entry: &[u8]| -> Result<(), String> {
        let text = std::str::from_utf8(entry).map_err(|e| e.to_string())?;
        let dataset = dataset::DatasetManifest::from_json(text).map_err(|e| e.to_string())?;
        let mut directory = ItemsDirectory::new(dataset.items.clone());
        let read = |name: &str| fs::read(root.join(name)).map_err(|e| format!("{name}: {e}"));
        for k in 0..dataset.items.chunks {
            let chunk = loop {
                match directory.locate(k).ok_or(format!("no items chunk {k}"))? {
                    Located::Chunk(file) => break file,
                    Located::Table(file) => directory
                        .add(&file, &read(&file.name)?)
                        .map_err(|e| e.to_string())?,
                }
            };
            let bytes = read(&chunk.name)?;
            chunk.check(&bytes).map_err(|e| e.to_string())?;
            let items: dataset::ItemsChunk =
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", chunk.name))?;
            for item in &items.items {
                if !root.join(&item.thumb).is_file() {
                    return Err(format!("{}: thumbnail {} missing", chunk.name, item.thumb));
                }
            }
        }
        if let Some(text) = &dataset.text {
            present(&text.weights.name, text.weights.bytes)?;
            if let dataset::Reduction::Pca { file } | dataset::Reduction::Head { file } =
                &text.reduction
            {
                present(&file.name, file.bytes)?;
            }
        }
        for file in dataset.full_features.iter().flat_map(|f| &f.files) {
            present(&file.name, file.bytes)?;
        }
        let index =
            fs::read(root.join(&dataset.index)).map_err(|e| format!("{}: {e}", dataset.index))?;
        let manifest = index_shards::Manifest::from_json(&index).map_err(|e| e.to_string())?;
        // The index is the one this dataset.json was built with, never a newer one.
        if (manifest.n_points, manifest.dims) != (dataset.count, dataset.dims) {
            return Err(format!(
                "{}: {} points of {} dims, dataset.json says {} of {}",
                dataset.index, manifest.n_points, manifest.dims, dataset.count, dataset.dims
            ));
        }
        for shard in &manifest.files {
            present(&shard.name, shard.bytes)?;
        }
        Ok(())
    };
    loop {
        let entry =
            fs::read(root.join("dataset.json")).map_err(|e| format!("dataset.json: {e}"))?;
        match check(&entry) {
            Ok(()) => return Ok(()),
            Err(fault) => {
                if fs::read(root.join("dataset.json")).ok().as_deref() == Some(&entry[..]) {
                    return Err(fault);
                }
            }
        }
    }
}

fn copy_folder(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Issue 17's kill-anywhere probe: a rebuild of a served dataset (60 images -> 90) is
/// SIGKILLed at 21 points spread over every stage, timed by its progress (the changes of
/// the folder's files it has made so far), not by the clock. Meanwhile a reader checks
/// the served folder after every change; after each kill the folder is still whole, and a
/// rerun finishes it into a folder that verifies and equals an uninterrupted build.
#[cfg(unix)]
#[test]
fn a_rebuild_killed_anywhere_leaves_the_folder_whole_and_a_rerun_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let source = colour_squares(dir.path());
    let model = fixture_path("hf");
    let later = dir.path().join("later");
    fs::create_dir(&later).unwrap();
    let moved: Vec<String> = (60..90u32)
        .flat_map(|i| [format!("img{i:03}.png"), format!("img{i:03}.txt")])
        .collect();
    let args = |out: &Path| -> Vec<String> {
        [
            "build",
            "--input",
            source.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ]
        .into_iter()
        .map(String::from)
        .chain(["--out".into(), out.display().to_string()])
        .chain(["--dims", "8", "--name", "photos"].map(String::from))
        .collect()
    };
    let build = |out: &Path| {
        let out = precompute(&args(out).iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.status.success(), "{}", stderr(&out));
    };
    for name in &moved {
        fs::rename(source.join(name), later.join(name)).unwrap();
    }
    let served_before = dir.path().join("served-before");
    build(&served_before);
    for name in &moved {
        fs::rename(later.join(name), source.join(name)).unwrap();
    }
    let uninterrupted = dir.path().join("uninterrupted");
    build(&uninterrupted);
    let expected = dataset_listing(&uninterrupted);

    // Runs the rebuild over a copy of the served folder, checking it after every change,
    // and kills it at change `kill_at` (never, for `None`); the changes seen.
    let served = dir.path().join("served");
    let rebuild = |kill_at: Option<usize>| -> usize {
        if served.exists() {
            fs::remove_dir_all(&served).unwrap();
        }
        copy_folder(&served_before, &served);
        let mut child = Command::new(env!("CARGO_BIN_EXE_precompute"))
            .args(args(&served))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut state = tree_state(&served);
        let mut changes = 0;
        loop {
            let exited = child.try_wait().unwrap().is_some();
            let now = tree_state(&served);
            if now != state {
                changes += 1;
                state = now;
                if let Err(fault) = served_folder_is_whole(&served) {
                    let _ = child.kill();
                    panic!(
                        "after change {changes} of the rebuild, the served folder broke: {fault}"
                    );
                }
                if Some(changes) == kill_at {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    return changes;
                }
            }
            if exited {
                return changes;
            }
        }
    };
    let total = rebuild(None);
    eprintln!("an uninterrupted rebuild made {total} changes");
    assert!(
        total >= 21,
        "an uninterrupted rebuild made only {total} changes"
    );
    assert_eq!(dataset_listing(&served), expected);
    for point in 0..21 {
        let kill_at = 1 + point * (total - 1) / 20;
        rebuild(Some(kill_at));
        served_folder_is_whole(&served)
            .unwrap_or_else(|fault| panic!("killed at change {kill_at} of {total}: {fault}"));
        build(&served);
        let verified = precompute(&["verify", served.to_str().unwrap()]);
        assert!(
            verified.status.success(),
            "killed at change {kill_at} of {total}, then rerun: {}",
            String::from_utf8_lossy(&verified.stdout)
        );
        assert_eq!(
            dataset_listing(&served),
            expected,
            "killed at change {kill_at} of {total}, then rerun"
        );
    }
}

/// A build split over two machines (`--part`, then `merge`, then the build again) gives
/// the same dataset as one build.
#[test]
fn build_split_into_parts_gives_the_same_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let source = colour_squares(dir.path());
    let model = fixture_path("hf");
    let flags = ["--chunk", "32", "--name", "colours"];
    let whole = dir.path().join("whole");
    assert!(
        build_colours(&source, &model, &whole, &flags)
            .status
            .success()
    );

    // Machine A is given its part; machine B is task 8 of a Slurm array 7-8 and takes its
    // part, 1/2, from the environment.
    let (first, second) = (dir.path().join("machine-a"), dir.path().join("machine-b"));
    let slurm_task = [
        ("SLURM_ARRAY_TASK_ID", "8"),
        ("SLURM_ARRAY_TASK_MIN", "7"),
        ("SLURM_ARRAY_TASK_MAX", "8"),
        ("SLURM_ARRAY_TASK_COUNT", "2"),
    ];
    let part_a = [&flags[..], &["--part", "0/2"]].concat();
    for output in [
        build_colours(&source, &model, &first, &part_a),
        build_colours_in(&slurm_task, &source, &model, &second, &flags),
    ] {
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("precompute merge"),
            "{}",
            stderr(&output)
        );
    }
    assert!(!first.join("dataset.json").exists() && !second.join("dataset.json").exists());
    // Each part inspected and extracted only its share: about half of the 90 images.
    for part in [&first, &second] {
        let memo = part.join(".work").join("ingest");
        let records = walk_files(&memo).len();
        assert!(
            (40..=50).contains(&records),
            "{}: {records} records",
            part.display()
        );
    }
    let joined = dir.path().join("joined");
    let merged = merge_parts(&joined, &[&first, &second]);
    assert!(merged.status.success(), "{}", stderr(&merged));
    // The build in the joined folder decodes no image and extracts no feature again.
    let stats = ok_json(build_colours(&source, &model, &joined, &flags));
    assert_eq!(
        (
            stats["images_inspected"].as_u64(),
            stats["features_extracted"].as_u64()
        ),
        (Some(0), Some(0)),
        "{stats}"
    );
    assert_eq!(dataset_listing(&whole), dataset_listing(&joined));

    // A part given twice, or one missing, is said before anything is joined.
    let twice = merge_parts(&dir.path().join("twice"), &[&first, &first]);
    assert_refused(&twice, "are both part 0/2");
    let lacking = merge_parts(&dir.path().join("lacking"), &[&second]);
    assert_refused(&lacking, "the parts lack 1 of 2 (first missing: part 0/2)");

    // A task whose scheduler environment is half set stops before any work.
    let half_set = build_colours_in(
        &[("SLURM_ARRAY_TASK_ID", "3")],
        &source,
        &model,
        &dir.path().join("machine-c"),
        &flags,
    );
    assert_refused(
        &half_set,
        "SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT missing",
    );
    assert!(!dir.path().join("machine-c").exists());
}

/// The collection changes between two parts of a split build. An image added shifts the
/// parts' shares: merge refuses to join them, naming why. An image whose bytes changed is
/// no mix either: its outcome and features are found by content, so the build in the
/// joined folder inspects and extracts that one image and equals a clean build of the
/// changed collection.
#[test]
fn parts_of_a_changed_collection_are_refused_not_mixed() {
    let dir = tempfile::tempdir().unwrap();
    let source = colour_squares(dir.path());
    let model = fixture_path("hf");
    let build_part = |out: &Path, part: &str| {
        let output = build_colours(&source, &model, out, &["--chunk", "32", "--part", part]);
        assert!(output.status.success(), "{}", stderr(&output));
    };
    let (first, second) = (dir.path().join("machine-a"), dir.path().join("machine-b"));
    build_part(&first, "0/2");
    // Image 4 is part 0's: its bytes change after that part ran.
    image::RgbImage::from_pixel(44, 40, image::Rgb([250, 250, 20]))
        .save(source.join("img004.png"))
        .unwrap();
    build_part(&second, "1/2");
    let joined = dir.path().join("joined");
    let merged = merge_parts(&joined, &[&first, &second]);
    assert!(merged.status.success(), "{}", stderr(&merged));
    let stats = ok_json(build_colours(&source, &model, &joined, &["--chunk", "32"]));
    assert_eq!(
        (
            stats["images_inspected"].as_u64(),
            stats["features_extracted"].as_u64()
        ),
        (Some(1), Some(1)),
        "{stats}"
    );
    let clean = dir.path().join("clean");
    ok_json(build_colours(&source, &model, &clean, &["--chunk", "32"]));
    let listing = |root: &Path| {
        let mut files = dataset_listing(root);
        // dataset.json names its folder.
        files.retain(|(name, _)| name != "dataset.json");
        files
    };
    assert_eq!(listing(&clean), listing(&joined));

    // An image added after part 0 ran: the parts listed different collections.
    fs::copy(source.join("img000.png"), source.join("img200.png")).unwrap();
    fs::write(source.join("img200.txt"), "a red square 200").unwrap();
    let third = dir.path().join("machine-c");
    build_part(&third, "1/2");
    let merged = merge_parts(&dir.path().join("mixed"), &[&first, &third]);
    assert_refused(&merged, "are parts of different runs (another image list");
    assert!(!dir.path().join("mixed").exists());
}

/// `precompute merge --out OUT PARTS...`: the parts of a split build joined into the
/// dataset folder `out`.
fn merge_parts(out: &Path, parts: &[&Path]) -> Output {
    let mut args = vec!["merge", "--out", out.to_str().unwrap()];
    args.extend(parts.iter().map(|p| p.to_str().unwrap()));
    precompute(&args)
}

/// Every file under `root`, recursively.
fn walk_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk_files(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Asserts that a command failed with `message` in its stderr.
fn assert_refused(output: &Output, message: &str) {
    assert!(!output.status.success(), "it ran: {}", stderr(output));
    assert!(stderr(output).contains(message), "{}", stderr(output));
}

/// `precompute synth --out DIR --count N --size S`, which must succeed.
fn synth_collection(dir: &Path, count: u32, size: u32) {
    let output = precompute(&[
        "synth",
        "--out",
        dir.to_str().unwrap(),
        "--count",
        &count.to_string(),
        "--size",
        &size.to_string(),
    ]);
    assert!(output.status.success(), "failed: {}", stderr(&output));
}

#[test]
fn synth_writes_decodable_images_and_their_captions_table() {
    let dir = tempfile::tempdir().unwrap();
    synth_collection(dir.path(), 12, 32);
    let table = fs::read_to_string(dir.path().join("captions.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(table.as_bytes());
    assert_eq!(reader.headers().unwrap(), vec!["filename", "caption"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 12);
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(&row[0], format!("images/{index:06}.png"));
        assert_eq!(&row[1], synth::caption(&synth::scene(1, index as u64)));
        let image = image::open(dir.path().join(&row[0])).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), (32, 32));
        let expected = synth::render(&synth::scene(1, index as u64), 32).unwrap();
        assert_eq!(image.as_raw(), &expected);
    }
}

#[test]
fn synth_writes_partial_training_captions_and_the_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    synth_collection(dir.path(), 12, 32);
    let read = |name: &str| {
        let table = fs::read_to_string(dir.path().join(name)).unwrap();
        let mut reader = csv::Reader::from_reader(table.as_bytes());
        let headers = reader.headers().unwrap().clone();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        (headers, rows)
    };
    let (headers, rows) = read("training.csv");
    assert_eq!(headers, vec!["filename", "caption"]);
    // The full caption, then two partial ones (the default), per scene.
    assert_eq!(rows.len(), 36);
    for (index, scene_rows) in rows.chunks(3).enumerate() {
        let scene = synth::scene(1, index as u64);
        assert!(
            scene_rows
                .iter()
                .all(|r| r[0] == *format!("images/{index:06}.png"))
        );
        assert_eq!(&scene_rows[0][1], synth::caption(&scene));
        assert_eq!(&scene_rows[1][1], synth::partial_caption(&scene, 0));
        assert_eq!(&scene_rows[2][1], synth::partial_caption(&scene, 1));
    }
    let (headers, rows) = read("scenes.csv");
    assert_eq!(
        headers,
        vec![
            "filename",
            "shape",
            "colour",
            "count",
            "size",
            "position",
            "texture",
            "background"
        ]
    );
    for (index, row) in rows.iter().enumerate() {
        let d = synth::scene(1, index as u64).description;
        assert_eq!(&row[1], synth::caption::shape_word(d.shape, false));
        assert_eq!(&row[2], synth::caption::colour_word(d.colour));
        assert_eq!(row[3].parse::<u32>().unwrap(), d.count.get());
        assert_eq!(&row[7], synth::caption::colour_word(d.background.colour));
    }
}

#[test]
fn train_says_why_a_collection_cannot_be_trained_on() {
    let dir = tempfile::tempdir().unwrap();
    synth_collection(dir.path(), 6, 32);
    let table = dir.path().join("captions.csv");
    let out = dir.path().join("model");
    let train = |table: &Path, batch: &str, more: &[&str]| {
        let mut args = vec![
            "train",
            "--input",
            table.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--batch-size",
            batch,
            "--steps",
            "1",
        ];
        args.extend_from_slice(more);
        precompute(&args)
    };
    let empty = dir.path().join("empty.csv");
    fs::write(&empty, "filename,caption\n").unwrap();
    let captionless = dir.path().join("captionless.csv");
    fs::write(
        &captionless,
        "filename,caption\nimages/000000.png,\nimages/000001.png,  \n",
    )
    .unwrap();
    let wrong_columns = dir.path().join("columns.csv");
    fs::write(&wrong_columns, "path,text\nimages/000000.png,a star\n").unwrap();
    for (input, batch, message) in [
        (&empty, "4", "the collection is empty"),
        (&captionless, "4", "none of the 2 items has a caption"),
        (
            &table,
            "8",
            "only 6 captioned items, fewer than one batch of 8",
        ),
        (&wrong_columns, "4", "has no column \"filename\""),
    ] {
        let output = train(input, batch, &[]);
        assert!(!output.status.success());
        assert!(stderr(&output).contains(message), "{}", stderr(&output));
    }
    #[cfg(not(feature = "wgpu"))]
    {
        let output = train(&table, "4", &["--device", "wgpu"]);
        assert!(!output.status.success());
        assert!(
            stderr(&output).contains("this build has no Wgpu backend"),
            "{}",
            stderr(&output)
        );
    }
    assert!(!out.join("model.safetensors").exists());
}

/// `precompute train-head` of 16-wide heads on `table` with `model`'s features into `out`.
fn run_train_head(table: &Path, model: &Path, out: &Path, more: &[&str]) -> Output {
    let mut args = vec![
        "train-head",
        "--input",
        table.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--hidden",
        "16",
    ];
    args.extend_from_slice(more);
    precompute(&args)
}

#[test]
fn train_head_keeps_its_frozen_features_and_shared_captions_change_the_targets() {
    let dir = tempfile::tempdir().unwrap();
    synth_collection(dir.path(), 40, 64);
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo/model");
    let table = dir.path().join("training.csv");
    let features = dir.path().join("frozen.features");
    let train_head = |table: &Path, out: &str, targets: &str| {
        let out = dir.path().join(out);
        let more = ["--steps", "3", "--batch-size", "32", "--targets", targets];
        let output = run_train_head(
            table,
            &model,
            &out,
            &[&more[..], &["--features", features.to_str().unwrap()]].concat(),
        );
        assert!(output.status.success(), "{}", stderr(&output));
        (
            stderr(&output),
            fs::read(out.join("head.safetensors")).unwrap(),
        )
    };
    let (first_log, first) = train_head(&table, "a", "shared");
    assert!(!first_log.contains("frozen features from"), "{first_log}");
    let written = fs::read(&features).unwrap();
    // The second run reads the features back and trains to the same bytes.
    let (second_log, second) = train_head(&table, "b", "shared");
    assert!(second_log.contains("frozen features from"), "{second_log}");
    assert_eq!(first, second);
    assert_eq!(fs::read(&features).unwrap(), written);
    // The synth table repeats partial captions across scenes ("green hearts"): counting
    // them as positives changes the training, CLIP's own targets give other heads.
    let (_, own) = train_head(&table, "c", "own");
    assert_ne!(first, own);
    // Another table (one caption less) makes other features: computed again and replaced.
    let text = fs::read_to_string(&table).unwrap();
    let shorter = dir.path().join("shorter.csv");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    fs::write(&shorter, lines.join("\n") + "\n").unwrap();
    let (log, _) = train_head(&shorter, "d", "shared");
    assert!(log.contains("holds other features"), "{log}");
    assert_ne!(fs::read(&features).unwrap(), written);
}

#[test]
fn train_head_fits_heads_that_eval_and_the_loader_take_and_refuses_bad_collections() {
    let dir = tempfile::tempdir().unwrap();
    synth_collection(dir.path(), 40, 64);
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo/model");
    let out = dir.path().join("heads");
    let train_head = |table: &Path, batch: &str| {
        let more = [
            "--steps",
            "4",
            "--batch-size",
            batch,
            "--checkpoint-every",
            "2",
        ];
        run_train_head(table, &model, &out, &more)
    };
    let captionless = dir.path().join("captionless.csv");
    fs::write(&captionless, "filename,caption\nimages/000000.png,\n").unwrap();
    let table = dir.path().join("training.csv");
    for (input, batch, message) in [
        (&captionless, "4", "none of the 1 items has a caption"),
        // 40 scenes, 2 held out, 3 captions each: 114 training captions.
        (
            &table,
            "200",
            "only 114 captioned items, fewer than one batch of 200",
        ),
    ] {
        let output = train_head(input, batch);
        assert!(!output.status.success());
        assert!(stderr(&output).contains(message), "{}", stderr(&output));
    }
    let output = train_head(&table, "16");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("held-out text->image recall@10 over 6 captions of 2 images"),
        "{}",
        stderr(&output)
    );
    let heads = out.join("head.safetensors");
    let (weights, config) = precompute::train_head_cmd::read_heads(&heads, 32).unwrap();
    assert_eq!((config.hidden, config.output), (16, 32));
    for name in ["image_head", "text_head"] {
        clip::load_head(&weights, name, &config, &burn::tensor::Device::flex()).unwrap();
    }
    // A head for other features names the tensor.
    let error = precompute::train_head_cmd::read_heads(&heads, 512).unwrap_err();
    assert!(
        format!("{error:#}")
            .contains("tensor image_head.0.weight has shape [16, 32], expected [16, 512]"),
        "{error:#}"
    );
    // A dataset built with the heads: the index in their space, the text head shipped.
    let captions = dir.path().join("captions.csv");
    let data = dir.path().join("data");
    let build = |more: &[&str]| {
        let mut args = vec![
            "build",
            "--input",
            captions.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--out",
            data.to_str().unwrap(),
        ];
        args.extend_from_slice(more);
        precompute(&args)
    };
    let refused = build(&["--reduction", "head"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("--reduction head needs --head FILE"),
        "{}",
        stderr(&refused)
    );
    let stats = ok_json(build(&["--head", heads.to_str().unwrap()]));
    assert!(
        stats["caption_recall_at_60"].as_f64().unwrap() > 0.0,
        "{stats}"
    );
    let data = dir.path().join("data");
    let manifest: Value =
        serde_json::from_slice(&fs::read(data.join("dataset.json")).unwrap()).unwrap();
    assert_eq!(manifest["text"]["reduction"]["kind"], "head");
    assert_eq!(manifest["dims"], 32);
    let head_file = data.join(
        manifest["text"]["reduction"]["file"]["name"]
            .as_str()
            .unwrap(),
    );
    let shipped = clip::TensorMap::from_safetensors(&fs::read(head_file).unwrap()).unwrap();
    assert!(
        shipped.names().iter().all(|n| n.starts_with("text_head.")),
        "{:?}",
        shipped.names()
    );
    let verified = precompute(&["verify", data.to_str().unwrap()]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    // The benchmark runs in the heads' space.
    let report = ok_json(precompute(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--head",
        heads.to_str().unwrap(),
        "--count",
        "200",
        "--page",
        "10",
        "--rounds",
        "1",
        "--searchers",
        "db",
    ]));
    assert_eq!(report["gallery"], 200);
}

#[test]
fn train_writes_a_loadable_model_and_resumes_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    synth_collection(dir.path(), 8, 64);
    let out = dir.path().join("model");
    let train = |steps: &str| {
        precompute(&[
            "train",
            "--input",
            dir.path().join("captions.csv").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--batch-size",
            "4",
            "--steps",
            steps,
            "--checkpoint-every",
            "2",
        ])
    };
    let first = train("3");
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(out.join("checkpoint-00000003.safetensors").exists());
    assert!(!out.join("checkpoint-00000002.safetensors").exists());
    let second = train("5");
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("resuming from step 3"),
        "{}",
        stderr(&second)
    );
    assert!(
        stderr(&second).contains("after 5 steps"),
        "{}",
        stderr(&second)
    );
    let (config, weights) = precompute::train_cmd::read_model(&out).unwrap();
    let device = burn::tensor::Device::flex();
    let model = clip::load_clip(&weights, &config, &device).unwrap();
    assert_eq!(model.vision.image_size, 64);
}

/// The committed demo model on 1000 held-out scenes, pages of 20, in the PCA space `build`
/// makes (measured: recall@10 1.0, colour+shape text precision median 0.600, ensemble F1
/// median 0.74 after one round and 0.92 after two, on independent axes; see demo/README.md for the 20,000-scene
/// figures), with a margin.
#[test]
fn the_demo_model_finds_typed_concepts_and_feedback_raises_f1() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo/model");
    let report = ok_json(precompute(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--count",
        "1000",
        "--page",
        "20",
        "--rounds",
        "2",
        "--searchers",
        "ens",
    ]));
    assert!(report["recall_at_k"].as_f64().unwrap() >= 0.8, "{report}");
    let kinds = report["kinds"].as_array().unwrap();
    let kind = |name: &str| kinds.iter().find(|k| k["kind"] == name).unwrap();
    let colour_shape = kind("colour+shape");
    assert_eq!(colour_shape["concepts"], 48);
    assert!(
        colour_shape["text_precision"]["median"].as_f64().unwrap() >= 0.4,
        "{report}"
    );
    let rounds = colour_shape["feedback_f1"][0]["rounds"].as_array().unwrap();
    assert_eq!(colour_shape["feedback_f1"][0]["searcher"], "ens");
    let median = |round: usize| rounds[round]["median"].as_f64().unwrap();
    assert!(median(1) >= 0.7 && median(1) > median(0), "{report}");
    assert!(
        kind("colour")["text_precision"]["median"].as_f64().unwrap() >= 0.8,
        "{report}"
    );
    assert_eq!(report["concepts"].as_array().unwrap().len(), 48 + 6 + 8);
}

#[test]
fn eval_refuses_an_empty_page_and_unknown_searchers() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo/model");
    let run = precompute(&["eval", "--model", model.to_str().unwrap(), "--page", "0"]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("--page"), "{}", stderr(&run));
    let run = precompute(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--searchers",
        "svm",
    ]);
    assert!(!run.status.success());
    assert!(
        stderr(&run).contains("unknown searcher \"svm\""),
        "{}",
        stderr(&run)
    );
}

#[test]
fn reduce_writes_compact_rows_that_index_takes() {
    let dir = tempfile::tempdir().unwrap();
    let features = dir.path().join("features.npy");
    let data: Vec<f32> = (0..40 * 16)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
        .collect();
    let matrix = Matrix::F32 {
        rows: 40,
        cols: 16,
        data,
    };
    fs::write(&features, npy::write(&matrix)).unwrap();
    let (pca, out) = (
        dir.path().join("pca.safetensors"),
        dir.path().join("u8.npy"),
    );
    let run = precompute(&[
        "reduce",
        "--features",
        features.to_str().unwrap(),
        "--dims",
        "8",
        "--pca",
        pca.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(
        npy::read(&fs::read(&out).unwrap()).unwrap().shape(),
        (40, 8)
    );
    let fitted = reduce::Pca::from_safetensors(&fs::read(&pca).unwrap()).unwrap();
    assert_eq!((fitted.dims_in(), fitted.dims_out()), (16, 8));
    let index = dir.path().join("index");
    let run = precompute(&[
        "index",
        "--features",
        out.to_str().unwrap(),
        "--out",
        index.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
}
