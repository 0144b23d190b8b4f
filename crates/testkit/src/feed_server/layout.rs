//! Writes the public feeds' layout under a server root, from the real data in
//! `shared/vulndata`: OSV `<ECOSYSTEM>/all.zip` + `modified_id.csv`, the
//! Debian tracker JSON, an Alpine secdb JSON document, the gzipped EPSS CSV,
//! the KEV catalog, and NVD CVEs for [`super::FeedServer::set_nvd`].

use std::io::Write;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Where the served single documents live, relative to the root.
pub const DEBIAN_TRACKER: &str = "debian-tracker/json";
/// The Alpine document [`write_documents`] serves (the sample is v3.15 main).
pub const ALPINE_V315_MAIN: &str = "alpine/v3.15/main.json";
pub const EPSS: &str = "epss/epss_scores-current.csv.gz";
pub const KEV: &str = "kev/known_exploited_vulnerabilities.json";

/// The `*.json` files directly in `dir`, sorted.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// A deflated zip at `target` holding `files` under their base names, as
/// OSV's `all.zip` does.
pub fn zip_files(target: &Path, files: &[PathBuf]) {
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    let mut writer = zip::ZipWriter::new(std::fs::File::create(target).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap();
        writer.start_file(name, options).unwrap();
        writer.write_all(&std::fs::read(file).unwrap()).unwrap();
    }
    writer.finish().unwrap();
}

/// 2024-01-01T00:00:00Z plus `minutes`, in RFC 3339.
pub fn stamp(minutes: i64) -> String {
    (OffsetDateTime::parse("2024-01-01T00:00:00Z", &Rfc3339).unwrap()
        + time::Duration::minutes(minutes))
    .format(&Rfc3339)
    .unwrap()
}

/// `dir/modified_id.csv` from (minutes after 2024-01-01, id) pairs, newest
/// first, with extra raw lines inserted at the top.
pub fn write_modified(dir: &Path, records: &[(i64, String)], extra_top: &[&str]) {
    let mut sorted = records.to_vec();
    sorted.sort_by_key(|record| std::cmp::Reverse(record.0));
    let mut text = String::new();
    for line in extra_top {
        text.push_str(line);
        text.push('\n');
    }
    for (minutes, id) in sorted {
        text.push_str(&format!("{},{id}\n", stamp(minutes)));
    }
    std::fs::write(dir.join("modified_id.csv"), text).unwrap();
}

/// One OSV ecosystem as the bulk export serves it: `root/osv/<ecosystem>/`
/// with `all.zip` of every JSON record in `source_dir` and a
/// `modified_id.csv` dating record `i` at minute `i`. Returns the records'
/// IDs with their minutes, for a test to change and rewrite.
pub fn write_osv_ecosystem(root: &Path, ecosystem: &str, source_dir: &Path) -> Vec<(i64, String)> {
    let dir = root.join("osv").join(ecosystem);
    let sources = json_files(source_dir);
    zip_files(&dir.join("all.zip"), &sources);
    let records: Vec<(i64, String)> = sources
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let id = path.file_stem().unwrap().to_str().unwrap().to_owned();
            (i64::try_from(i).unwrap(), id)
        })
        .collect();
    write_modified(&dir, &records, &[]);
    records
}

/// The single-document feeds from the samples under `root`: the Debian
/// tracker JSON, Alpine v3.15 main (as JSON, like the live secdb), EPSS
/// (gzipped, like the live file) and KEV.
pub fn write_documents(data: &Path, root: &Path) {
    let samples = data.join("samples");
    let put = |relative: &str, bytes: Vec<u8>| {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    put(
        DEBIAN_TRACKER,
        std::fs::read(samples.join("debian/test-fixtures/input/debian.json")).unwrap(),
    );
    let yaml =
        std::fs::read(samples.join("alpine/test-fixtures/input/secdb/v3.15/main.yaml")).unwrap();
    let document: serde_json::Value = serde_yaml_ng::from_slice(&yaml).unwrap();
    put(ALPINE_V315_MAIN, serde_json::to_vec(&document).unwrap());
    let csv = std::fs::read(samples.join("epss/test-fixtures/example-1.csv")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&csv).unwrap();
    put(EPSS, gz.finish().unwrap());
    put(
        KEV,
        std::fs::read(data.join("kev/known_exploited_vulnerabilities.json")).unwrap(),
    );
}

/// The CVEs of the NVD API sample pages, for [`super::FeedServer::set_nvd`].
pub fn nvd_cves(data: &Path) -> Vec<serde_json::Value> {
    let mut cves = Vec::new();
    for name in ["full-page.json", "single-entry.json"] {
        let bytes = std::fs::read(data.join("samples/nvd/test-fixtures").join(name)).unwrap();
        let page: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        cves.extend(page["vulnerabilities"].as_array().unwrap().iter().cloned());
    }
    cves
}
