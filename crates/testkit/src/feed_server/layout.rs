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

/// Where Red Hat's CSAF layout lives under the root (a `--mirror` base).
pub const REDHAT_CSAF: &str = "redhat-csaf";
/// The date of the archive [`write_redhat_csaf`] names, as in the real
/// sample's `archive_latest.txt`.
pub const REDHAT_ARCHIVE_DATE: &str = "2025-02-15";

/// The real Red Hat CSAF advisories of the samples, as (`<year>/<file>`,
/// bytes) the way Red Hat's server lays them out, sorted.
pub fn redhat_csaf_samples(data: &Path) -> Vec<(String, Vec<u8>)> {
    let csaf = data.join("samples/rhel/test-fixtures/csaf");
    let mut files = Vec::new();
    for dir in [
        csaf.join("advisories"),
        csaf.join("advisories/2024"),
        csaf.join("advisories/2025"),
        csaf.join("server/2024"),
    ] {
        files.extend(json_files(&dir));
    }
    let mut documents: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|path| {
            let file = path.file_name().unwrap().to_str().unwrap().to_owned();
            // `rhsa-2024_0010.json` is filed under 2024.
            let year = file.split(['-', '_']).nth(1).unwrap().to_owned();
            (format!("{year}/{file}"), std::fs::read(path).unwrap())
        })
        .collect();
    documents.sort();
    documents.dedup_by(|a, b| a.0 == b.0);
    documents
}

/// `dir/<name>` in Red Hat's CSV shape: `"path","timestamp"` per line.
pub fn write_redhat_csv(dir: &Path, name: &str, rows: &[(&str, &str)]) {
    let mut text = String::new();
    for (path, timestamp) in rows {
        text.push_str(&format!("\"{path}\",\"{timestamp}\"\n"));
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

/// Red Hat's CSAF layout of one kind (`advisories`, `vex`) under
/// `root/redhat-csaf/<kind>/`: `archive_latest.txt` naming
/// `csaf_<kind>_2025-02-15.tar.zst`, that archive (a real zstd-compressed
/// tar of `documents` under their `<year>/<file>` paths), each document at
/// its path, a `changes.csv` dating every document the day before the
/// archive and the sample's `deletions.csv` (both older than the archive,
/// so a first incremental update finds nothing). Returns the kind's
/// directory, for a test to change.
pub fn write_redhat_csaf(root: &Path, kind: &str, documents: &[(String, Vec<u8>)]) -> PathBuf {
    let dir = root.join(REDHAT_CSAF).join(kind);
    std::fs::create_dir_all(&dir).unwrap();
    let archive = format!("csaf_{kind}_{REDHAT_ARCHIVE_DATE}.tar.zst");
    std::fs::write(dir.join("archive_latest.txt"), &archive).unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    for (path, bytes) in documents {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, path, bytes.as_slice())
            .unwrap();
        let target = dir.join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    std::fs::write(
        dir.join(&archive),
        zstd::encode_all(tar.as_slice(), 3).unwrap(),
    )
    .unwrap();
    let changes: Vec<(&str, &str)> = documents
        .iter()
        .map(|(path, _)| (path.as_str(), "2025-02-14T14:27:54+00:00"))
        .collect();
    write_redhat_csv(&dir, "changes.csv", &changes);
    write_redhat_csv(
        &dir,
        "deletions.csv",
        &[
            ("2024/rhea-2024_5245.json", "2025-02-07T17:44:49+00:00"),
            ("2024/rhsa-2024_2106.json", "2024-12-01T21:27:56+00:00"),
        ],
    );
    dir
}
