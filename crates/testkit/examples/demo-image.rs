//! Writes a small demo image as an OCI layout, for the README's first command:
//!
//! ```sh
//! cargo run -p testkit --example demo-image -- /tmp/shipshape-demo
//! shipshape scan --oci-layout /tmp/shipshape-demo:demo
//! ```
//!
//! Layer 0 carries a dpkg status file, layer 1 rewrites it the way an apt
//! layer does (the packages already there keep layer 0), and the next layers
//! add Python, npm and Ruby packages in their real file formats, then delete
//! one again with a whiteout.
//!
//! It uses the same builders (`imagebuild`, re-exported by the kit) as the
//! whole demo fleet of `serve --demo` (`crates/demo`).

#![allow(clippy::print_stderr)] // a command-line example: stderr is its interface

use std::path::PathBuf;
use std::process::ExitCode;

use imagebuild::{Compression, ImageBuilder, LayerBuilder, LayoutWriter};

const OS_RELEASE: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"#;

const BASE_STATUS: &str = "Package: base-files
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 340
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files

Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 6140
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.11-1~deb12u2
Depends: libc6 (>= 2.34)
Description: Secure Sockets Layer toolkit - shared libraries

Package: zlib1g
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 168
Maintainer: Mark Brown <broonie@debian.org>
Architecture: amd64
Multi-Arch: same
Source: zlib
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime
";

const APT_ADDITIONS: &str = "
Package: curl
Status: install ok installed
Priority: optional
Section: web
Installed-Size: 500
Maintainer: Alessandro Ghedini <ghedo@debian.org>
Architecture: amd64
Version: 7.88.1-10+deb12u4
Depends: libc6 (>= 2.34), libcurl4 (= 7.88.1-10+deb12u4), zlib1g (>= 1:1.1.4)
Description: command line tool for transferring data with URL syntax

Package: libcurl4
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 1000
Maintainer: Alessandro Ghedini <ghedo@debian.org>
Architecture: amd64
Multi-Arch: same
Source: curl
Version: 7.88.1-10+deb12u4
Description: easy-to-use client-side URL transfer library (OpenSSL flavour)
";

fn python_metadata(name: &str, version: &str, license: &str) -> String {
    format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: demo\nLicense: {license}\nRequires-Python: >=3.7\n\n{name} long description.\n"
    )
}

fn npm_package(name: &str, version: &str, license: &str) -> String {
    format!(
        r#"{{"name": "{name}", "version": "{version}", "license": "{license}", "main": "index.js"}}"#
    )
}

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: demo-image OUT_DIR");
        return ExitCode::from(2);
    };
    match build(&out) {
        Ok(()) => {
            eprintln!("wrote an OCI layout to {} (tag \"demo\")", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn build(out: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let base_status = BASE_STATUS;
    let site = "usr/local/lib/python3.11/site-packages";

    let image = ImageBuilder::oci()
        .created("2026-11-01T10:00:00Z")
        .layer(
            LayerBuilder::new()
                .created_by("/bin/sh -c #(nop) ADD file:debian-bookworm-rootfs.tar.xz in / ")
                .file("etc/os-release", OS_RELEASE, 0o644)
                .file("var/lib/dpkg/status", base_status, 0o644),
        )
        .empty_history("/bin/sh -c #(nop)  CMD [\"bash\"]")
        .layer(
            LayerBuilder::new()
                .created_by("RUN apt-get install -y curl")
                .file(
                    "var/lib/dpkg/status",
                    format!("{base_status}{APT_ADDITIONS}"),
                    0o644,
                ),
        )
        .empty_history("ENV PYTHONUNBUFFERED=1")
        .layer(
            LayerBuilder::new()
                .created_by("RUN pip install requests==2.31.0 urllib3==1.26.18 Django==4.2.7")
                .compression(Compression::Zstd)
                .file(
                    &format!("{site}/requests-2.31.0.dist-info/METADATA"),
                    python_metadata("requests", "2.31.0", "Apache 2.0"),
                    0o644,
                )
                .file(
                    &format!("{site}/urllib3-1.26.18.dist-info/METADATA"),
                    python_metadata("urllib3", "1.26.18", "MIT"),
                    0o644,
                )
                .file(
                    &format!("{site}/Django-4.2.7.dist-info/METADATA"),
                    python_metadata("Django", "4.2.7", "BSD-3-Clause"),
                    0o644,
                ),
        )
        .layer(
            LayerBuilder::new()
                .created_by("COPY app/ /app/ && npm ci")
                .file("app/package.json", npm_package("demo-app", "1.0.0", "MIT"), 0o644)
                .file(
                    "app/node_modules/lodash/package.json",
                    npm_package("lodash", "4.17.20", "MIT"),
                    0o644,
                )
                .file(
                    "app/node_modules/express/package.json",
                    npm_package("express", "4.18.2", "MIT"),
                    0o644,
                )
                .file(
                    "app/node_modules/@babel/traverse/package.json",
                    npm_package("@babel/traverse", "7.22.0", "MIT"),
                    0o644,
                ),
        )
        .layer(
            LayerBuilder::new()
                .created_by("RUN gem install rack -v 2.2.6 && pip uninstall -y urllib3")
                .file(
                    "usr/local/bundle/specifications/rack-2.2.6.gemspec",
                    "# -*- encoding: utf-8 -*-\nGem::Specification.new do |s|\n  s.name = \"rack\".freeze\n  s.version = \"2.2.6\"\n  s.licenses = [\"MIT\".freeze]\nend\n",
                    0o644,
                )
                .whiteout(&format!("{site}/urllib3-1.26.18.dist-info")),
        )
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .cmd(["node", "/app/index.js"])
        .label("org.opencontainers.image.title", "shipshape-demo")
        .build()?;

    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    let mut layout = LayoutWriter::create(out)?;
    layout.add(&image, Some("demo"))?;
    Ok(())
}
