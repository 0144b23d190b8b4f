use super::*;

/// `ecosystem name status ranges` per affected package, for table checks.
fn summary(advisory: &Advisory) -> Vec<String> {
    advisory
        .affected
        .iter()
        .map(|a| {
            let events: Vec<String> = a
                .ranges
                .iter()
                .flat_map(|r| &r.events)
                .map(|e| match e {
                    RangeEvent::Introduced(v) => format!(">={v}"),
                    RangeEvent::Fixed(v) => format!("<{v}"),
                    RangeEvent::LastAffected(v) => format!("<={v}"),
                    RangeEvent::Limit(v) => format!("limit {v}"),
                })
                .collect();
            let status = match &a.distro_status {
                Some(DistroStatus::Fixed) => "fixed".to_owned(),
                Some(DistroStatus::NotFixed) => "not-fixed".to_owned(),
                Some(DistroStatus::WontFix(reason)) => format!("wont-fix({reason})"),
                Some(DistroStatus::NotAffected) => "not-affected".to_owned(),
                other => format!("{other:?}"),
            };
            format!("{} {} {status} {}", a.ecosystem, a.name, events.join(" "))
        })
        .collect()
}

#[test]
fn platform_cpes_map_to_streams() {
    let table = [
        (
            "cpe:/a:redhat:enterprise_linux:9::appstream",
            Some("Red Hat:9"),
        ),
        (
            "cpe:/o:redhat:enterprise_linux:8::baseos",
            Some("Red Hat:8"),
        ),
        (
            "cpe:/o:redhat:enterprise_linux:7::server",
            Some("Red Hat:7"),
        ),
        ("cpe:/o:redhat:enterprise_linux:9", Some("Red Hat:9")),
        // RHEL 10 puts the minor in mainline CPEs: still the major's stream.
        ("cpe:/o:redhat:enterprise_linux:10.0", Some("Red Hat:10")),
        (
            "cpe:/o:redhat:rhel_eus:8.6::baseos",
            Some("Red Hat:8.6+eus"),
        ),
        (
            "cpe:/a:redhat:rhel_e4s:9.0::appstream",
            Some("Red Hat:9.0+e4s"),
        ),
        (
            "cpe:/o:redhat:rhel_aus:8.4::baseos",
            Some("Red Hat:8.4+aus"),
        ),
        (
            "cpe:/o:redhat:rhel_tus:8.8::baseos",
            Some("Red Hat:8.8+tus"),
        ),
        ("cpe:/o:redhat:rhel_els:6", Some("Red Hat:6+els")),
        ("cpe:/a:redhat:openshift:4.14::el9", None),
        ("cpe:/a:redhat:enterprise_linux:x::appstream", None),
        ("cpe:/a:redhat:enterprise_linux:9.x", None),
        ("cpe:/a:redhat:enterprise_linux", None),
        ("cpe:/a:redhat:enterprise_linux::appstream", None),
        ("cpe:/a:fedora:enterprise_linux:9", None),
        ("", None),
    ];
    for (cpe, expected) in table {
        assert_eq!(stream_of_cpe(cpe).as_deref(), expected, "{cpe}");
    }
}

#[test]
fn rpm_purls_are_parsed() {
    type Expected<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );
    let table: [(&str, Option<Expected<'_>>); 8] = [
        (
            "pkg:rpm/redhat/python3.9@3.9.18-3.el9_4.5?arch=src",
            Some((
                "python3.9",
                Some("3.9.18-3.el9_4.5"),
                Some("src"),
                None,
                None,
            )),
        ),
        (
            "pkg:rpm/redhat/bind@9.8.2-0.68.rc1.el6_10.17?arch=src&epoch=32",
            Some((
                "bind",
                Some("9.8.2-0.68.rc1.el6_10.17"),
                Some("src"),
                Some("32"),
                None,
            )),
        ),
        (
            "pkg:rpm/redhat/ruby@2.7.8-139.module%2Bel8.8.0%2B18745%2Bf1bef313?arch=src&rpmmod=ruby:2.7:8080020230427102918:63b34585",
            Some((
                "ruby",
                Some("2.7.8-139.module+el8.8.0+18745+f1bef313"),
                Some("src"),
                None,
                Some("ruby:2.7"),
            )),
        ),
        (
            "pkg:rpm/redhat/python3.9?arch=src",
            Some(("python3.9", None, Some("src"), None, None)),
        ),
        (
            "pkg:rpm/redhat/openssl",
            Some(("openssl", None, None, None, None)),
        ),
        ("pkg:oci/ubi9@sha256%3Aabc", None),
        ("pkg:rpm/redhat/bad@1%2", None),
        ("pkg:rpm/redhat/@1-1", None),
    ];
    for (purl, expected) in table {
        let parsed = RpmPurl::parse(purl);
        let got = parsed.as_ref().map(|p| {
            (
                p.name.as_str(),
                p.version.as_deref(),
                p.arch.as_deref(),
                p.epoch.as_deref(),
                p.module.as_deref(),
            )
        });
        assert_eq!(got, expected, "{purl}");
    }
    assert_eq!(
        module_of_rpmmod_purl("pkg:rpmmod/redhat/nodejs@18:8090020231019152822:a75119d5"),
        Some("nodejs:18".to_owned())
    );
    assert_eq!(module_of_rpmmod_purl("pkg:rpm/redhat/nodejs@18"), None);
}

/// A VEX document in Red Hat's shape, with every product status.
const VEX: &str = r#"{
  "document": {
    "category": "csaf_vex", "csaf_version": "2.0",
    "title": "openssl: a flaw",
    "aggregate_severity": {"text": "Important"},
    "tracking": {"id": "CVE-2024-0001", "initial_release_date": "2024-01-01T00:00:00+00:00",
                 "current_release_date": "2024-02-01T00:00:00+00:00"},
    "references": [{"category": "self", "url": "https://access.redhat.com/security/cve/CVE-2024-0001"}]
  },
  "product_tree": {
    "branches": [{"category": "vendor", "name": "Red Hat", "branches": [
      {"category": "product_family", "branches": [
        {"category": "product_name", "product": {"product_id": "AppStream-9.4.0.Z.MAIN",
          "product_identification_helper": {"cpe": "cpe:/a:redhat:enterprise_linux:9::appstream"}}},
        {"category": "product_name", "product": {"product_id": "BaseOS-9.2.0.Z.EUS",
          "product_identification_helper": {"cpe": "cpe:/o:redhat:rhel_eus:9.2::baseos"}}},
        {"category": "product_name", "product": {"product_id": "red_hat_enterprise_linux_8",
          "product_identification_helper": {"cpe": "cpe:/o:redhat:enterprise_linux:8"}}},
        {"category": "product_name", "product": {"product_id": "red_hat_enterprise_linux_7",
          "product_identification_helper": {"cpe": "cpe:/o:redhat:enterprise_linux:7"}}},
        {"category": "product_name", "product": {"product_id": "red_hat_enterprise_linux_6",
          "product_identification_helper": {"cpe": "cpe:/o:redhat:enterprise_linux:6"}}},
        {"category": "product_name", "product": {"product_id": "openshift-4",
          "product_identification_helper": {"cpe": "cpe:/a:redhat:openshift:4"}}},
        {"category": "product_name", "product": {"product_id": "no-cpe"}}
      ]},
      {"category": "architecture", "name": "src", "branches": [
        {"category": "product_version", "product": {"product_id": "openssl-1:3.0.7-27.el9_4.src",
          "product_identification_helper": {"purl": "pkg:rpm/redhat/openssl@3.0.7-27.el9_4?arch=src&epoch=1"}}},
        {"category": "product_version", "product": {"product_id": "openssl-1:3.0.7-20.el9_2.src",
          "product_identification_helper": {"purl": "pkg:rpm/redhat/openssl@3.0.7-20.el9_2?arch=src&epoch=1"}}}
      ]},
      {"category": "architecture", "name": "x86_64", "branches": [
        {"category": "product_version", "product": {"product_id": "openssl-libs-1:3.0.7-27.el9_4.x86_64",
          "product_identification_helper": {"purl": "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9_4?arch=x86_64&epoch=1"}}}
      ]},
      {"category": "product_version", "product": {"product_id": "openssl",
        "product_identification_helper": {"purl": "pkg:rpm/redhat/openssl?arch=src"}}},
      {"category": "product_version", "product": {"product_id": "openssl098e",
        "product_identification_helper": {"purl": "pkg:rpm/redhat/openssl098e?arch=src"}}},
      {"category": "product_version", "product": {"product_id": "ubi9/openssl",
        "product_identification_helper": {"purl": "pkg:oci/openssl?repository_url=registry.access.redhat.com/ubi9"}}},
      {"category": "product_version", "product": {"product_id": "nodejs:18",
        "product_identification_helper": {"purl": "pkg:rpmmod/redhat/nodejs@18:8090020231019152822:a75119d5"}}},
      {"category": "product_version", "product": {"product_id": "nodejs-1:18.19.0-1.module+el8.9.0+1+abc.src",
        "product_identification_helper": {"purl": "pkg:rpm/redhat/nodejs@18.19.0-1.module%2Bel8.9.0%2B1%2Babc?arch=src&epoch=1"}}}
    ]}],
    "relationships": [
      {"full_product_name": {"product_id": "AppStream-9.4.0.Z.MAIN:openssl-1:3.0.7-27.el9_4.src"},
       "product_reference": "openssl-1:3.0.7-27.el9_4.src", "relates_to_product_reference": "AppStream-9.4.0.Z.MAIN"},
      {"full_product_name": {"product_id": "AppStream-9.4.0.Z.MAIN:openssl-libs-1:3.0.7-27.el9_4.x86_64"},
       "product_reference": "openssl-libs-1:3.0.7-27.el9_4.x86_64", "relates_to_product_reference": "AppStream-9.4.0.Z.MAIN"},
      {"full_product_name": {"product_id": "BaseOS-9.2.0.Z.EUS:openssl-1:3.0.7-20.el9_2.src"},
       "product_reference": "openssl-1:3.0.7-20.el9_2.src", "relates_to_product_reference": "BaseOS-9.2.0.Z.EUS"},
      {"full_product_name": {"product_id": "red_hat_enterprise_linux_8:openssl"},
       "product_reference": "openssl", "relates_to_product_reference": "red_hat_enterprise_linux_8"},
      {"full_product_name": {"product_id": "red_hat_enterprise_linux_7:openssl"},
       "product_reference": "openssl", "relates_to_product_reference": "red_hat_enterprise_linux_7"},
      {"full_product_name": {"product_id": "red_hat_enterprise_linux_6:openssl"},
       "product_reference": "openssl", "relates_to_product_reference": "red_hat_enterprise_linux_6"},
      {"full_product_name": {"product_id": "red_hat_enterprise_linux_7:openssl098e"},
       "product_reference": "openssl098e", "relates_to_product_reference": "red_hat_enterprise_linux_7"},
      {"full_product_name": {"product_id": "red_hat_enterprise_linux_8:ubi9/openssl"},
       "product_reference": "ubi9/openssl", "relates_to_product_reference": "red_hat_enterprise_linux_8"},
      {"full_product_name": {"product_id": "openshift-4:openssl"},
       "product_reference": "openssl", "relates_to_product_reference": "openshift-4"},
      {"full_product_name": {"product_id": "no-cpe:openssl"},
       "product_reference": "openssl", "relates_to_product_reference": "no-cpe"},
      {"full_product_name": {"product_id": "red_hat_enterprise_linux_8:nodejs:18"},
       "product_reference": "nodejs:18", "relates_to_product_reference": "red_hat_enterprise_linux_8"},
      {"full_product_name": {"product_id": "red_hat_enterprise_linux_8:nodejs:18:nodejs-1:18.19.0-1.module+el8.9.0+1+abc.src"},
       "product_reference": "nodejs-1:18.19.0-1.module+el8.9.0+1+abc.src",
       "relates_to_product_reference": "red_hat_enterprise_linux_8:nodejs:18"}
    ]
  },
  "vulnerabilities": [{
    "cve": "CVE-2024-0001",
    "title": "openssl: crash on a crafted certificate",
    "notes": [{"category": "description", "text": "A flaw was found in openssl."}],
    "product_status": {
      "fixed": ["AppStream-9.4.0.Z.MAIN:openssl-1:3.0.7-27.el9_4.src",
                "AppStream-9.4.0.Z.MAIN:openssl-libs-1:3.0.7-27.el9_4.x86_64",
                "BaseOS-9.2.0.Z.EUS:openssl-1:3.0.7-20.el9_2.src",
                "red_hat_enterprise_linux_8:nodejs:18:nodejs-1:18.19.0-1.module+el8.9.0+1+abc.src"],
      "known_affected": ["red_hat_enterprise_linux_8:openssl", "red_hat_enterprise_linux_7:openssl",
                         "red_hat_enterprise_linux_6:openssl", "red_hat_enterprise_linux_8:ubi9/openssl",
                         "openshift-4:openssl", "no-cpe:openssl", "missing:product"],
      "known_not_affected": ["red_hat_enterprise_linux_7:openssl098e"]
    },
    "remediations": [
      {"category": "no_fix_planned", "details": "Will not fix", "product_ids": ["red_hat_enterprise_linux_7:openssl"]},
      {"category": "no_fix_planned", "details": "Out of support scope", "product_ids": ["red_hat_enterprise_linux_6:openssl"]},
      {"category": "none_available", "details": "Affected", "product_ids": ["red_hat_enterprise_linux_8:openssl"]}
    ],
    "scores": [{"cvss_v3": {"vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "baseScore": 7.5}}],
    "threats": [{"category": "impact", "details": "Important"}]
  }]
}"#;

#[test]
fn vex_statuses_become_affected_packages() {
    let mut report = ImportReport::default();
    let advisory = parse_redhat_csaf(VEX.as_bytes(), "vex.json", &mut report)
        .expect("parses")
        .expect("has RHEL packages");
    assert_eq!(advisory.id, "CVE-2024-0001");
    assert_eq!(advisory.source, AdvisorySource::RedHatCsaf);
    assert!(advisory.aliases.is_empty());
    assert_eq!(
        summary(&advisory),
        [
            "Red Hat:6 openssl wont-fix(Out of support scope) >=0",
            "Red Hat:7 openssl wont-fix(Will not fix) >=0",
            "Red Hat:7 openssl098e not-affected ",
            "Red Hat:8 openssl not-fixed >=0",
            "Red Hat:8/nodejs:18 nodejs fixed >=0 <1:18.19.0-1.module+el8.9.0+1+abc",
            "Red Hat:9 openssl fixed >=0 <1:3.0.7-27.el9_4",
            "Red Hat:9.2+eus openssl fixed >=0 <1:3.0.7-20.el9_2",
        ]
    );
    assert_eq!(advisory.database_severity.as_deref(), Some("Important"));
    assert_eq!(
        advisory.severity,
        [SeverityScore {
            kind: "CVSS_V3".to_owned(),
            score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H".to_owned(),
        }]
    );
    assert_eq!(
        advisory.summary.as_deref(),
        Some("openssl: crash on a crafted certificate")
    );
    assert_eq!(
        advisory.details.as_deref(),
        Some("A flaw was found in openssl.")
    );
    assert_eq!(advisory.references.len(), 1);
    // The product without a platform CPE and the one without a relationship.
    assert_eq!(report.skipped, 2, "{:?}", report.skipped_records);
    assert_eq!(report.imported, 1);
    assert_eq!(report.ecosystems["Red Hat:7"], 2);
}

#[test]
fn a_fix_outranks_other_statuses_for_the_same_stream() {
    let table = [
        (PackageState::default(), None),
        (
            PackageState {
                fixed: ["1-2".to_owned()].into(),
                affected: true,
                not_affected: true,
                ..PackageState::default()
            },
            Some(DistroStatus::Fixed),
        ),
        (
            PackageState {
                affected: true,
                wont_fix: Some("Will not fix".to_owned()),
                not_affected: true,
                ..PackageState::default()
            },
            Some(DistroStatus::NotFixed),
        ),
        (
            PackageState {
                wont_fix: Some("Will not fix".to_owned()),
                not_affected: true,
                ..PackageState::default()
            },
            Some(DistroStatus::WontFix("Will not fix".to_owned())),
        ),
        (
            PackageState {
                not_affected: true,
                ..PackageState::default()
            },
            Some(DistroStatus::NotAffected),
        ),
    ];
    for (state, expected) in table {
        assert_eq!(state.into_ranges().map(|(_, status)| status), expected);
    }
}

#[test]
fn documents_that_are_not_csaf_are_refused() {
    let table: [(&str, &str); 6] = [
        ("[]", "Red Hat CSAF"),
        ("{}", "no `document`"),
        (
            r#"{"document": {"category": "csaf_base", "csaf_version": "2.0", "tracking": {"id": "X"}}}"#,
            "not a CSAF 2.0 advisory",
        ),
        (
            r#"{"document": {"category": "csaf_vex", "csaf_version": "2.0", "tracking": {}}}"#,
            "no `document.tracking.id`",
        ),
        (
            r#"{"document": {"category": "csaf_vex", "csaf_version": "2.0", "tracking": {"id": 7}}}"#,
            "invalid type",
        ),
        ("{\"document\": ", "EOF"),
    ];
    for (input, message) in table {
        let mut report = ImportReport::default();
        let error = parse_redhat_csaf(input.as_bytes(), "t.json", &mut report)
            .expect_err(input)
            .to_string();
        assert!(error.contains(message), "{input}: {error}");
    }
    let empty = r#"{"document": {"category": "csaf_vex", "csaf_version": "2.0", "tracking": {"id": "CVE-1"}}}"#;
    let mut report = ImportReport::default();
    assert_eq!(
        parse_redhat_csaf(empty.as_bytes(), "t.json", &mut report).expect("valid"),
        None
    );
    assert_eq!(report.imported, 0);
}

fn tar_zst(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, *bytes)
            .expect("append");
    }
    let tar = builder.into_inner().expect("tar");
    zstd::encode_all(&tar[..], 3).expect("zstd")
}

fn read_archive(archive: &[u8], limits: &ZipLimits) -> (Result<Vec<String>, String>, ImportReport) {
    let mut report = ImportReport::default();
    let mut ids = Vec::new();
    let result = read_redhat_csaf_archive(archive, "a.tar.zst", limits, &mut report, &mut |a| {
        ids.push(a.id)
    });
    (result.map(|()| ids).map_err(|e| e.to_string()), report)
}

#[test]
fn archives_are_read_within_limits() {
    let archive = tar_zst(&[
        ("2024/cve-2024-0001.json", VEX.as_bytes()),
        ("index.txt", b"not json"),
        ("2024/broken.json", b"{"),
    ]);
    let generous = ZipLimits::default();
    let (result, report) = read_archive(&archive, &generous);
    assert_eq!(result.expect("reads"), ["CVE-2024-0001"]);
    assert_eq!(report.imported, 1);
    assert!(
        report
            .skipped_records
            .iter()
            .any(|r| r.location == "a.tar.zst!2024/broken.json"),
        "{:?}",
        report.skipped_records
    );

    let small_entries = ZipLimits {
        max_entry_bytes: 100,
        ..generous
    };
    let (result, report) = read_archive(&archive, &small_entries);
    assert_eq!(result.expect("reads"), Vec::<String>::new());
    assert!(report.skipped_records[0].reason.contains("limit of 100"));

    let small_total = ZipLimits {
        max_total_bytes: 2048,
        ..generous
    };
    let (result, _) = read_archive(&archive, &small_total);
    assert!(
        result.as_ref().is_err_and(|e| e.contains("limit of 2048")),
        "{result:?}"
    );

    let few_entries = ZipLimits {
        max_entries: 2,
        ..generous
    };
    let (result, _) = read_archive(&archive, &few_entries);
    assert!(result.is_err_and(|e| e.contains("limit of 2")));

    let (result, _) = read_archive(b"A TAR.ZST OF CSAF RHSAs\n", &generous);
    assert!(result.is_err_and(|e| e.contains("a.tar.zst")));
}
