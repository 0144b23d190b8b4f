//! The demo images: what a small company runs, built layer by layer the way
//! their Dockerfiles would, with real package-database files and the package
//! versions those images really shipped at the time.
//!
//! Base layers are shared: every image on the same Debian or Alpine point
//! release gets byte-identical base layers (same diffID), as pulled images do.

use imagebuild::{Compression, ImageBuilder, LayerBuilder, Platform};

use crate::packages::{
    Apk, Deb, apk, apk_installed, deb, dpkg_stanza, dpkg_status, gemspec, npm_package_json,
    python_metadata,
};

/// The CPU architectures the fleet's nodes have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub(crate) fn platform(self) -> Platform {
        match self {
            Arch::Amd64 => Platform::linux_amd64(),
            Arch::Arm64 => Platform {
                os: "linux".to_owned(),
                architecture: "arm64".to_owned(),
                variant: Some("v8".to_owned()),
            },
        }
    }

    fn dpkg(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// One image to build: a repository, a tag, how long before `now` it was
/// built, the platforms it exists for, and its Dockerfile as builder calls.
pub(crate) struct Recipe {
    pub repository: &'static str,
    pub tag: &'static str,
    pub days_old: i64,
    pub archs: &'static [Arch],
    pub build: fn(Arch) -> ImageBuilder,
}

const AMD64: &[Arch] = &[Arch::Amd64];
const MULTI_ARCH: &[Arch] = &[Arch::Amd64, Arch::Arm64];

/// Every demo image, oldest tag of a repository first.
pub(crate) const RECIPES: &[Recipe] = &[
    Recipe {
        repository: "docker.io/library/nginx",
        tag: "1.25.3",
        days_old: 240,
        archs: AMD64,
        build: nginx_1_25_3,
    },
    Recipe {
        repository: "docker.io/library/nginx",
        tag: "1.27.1",
        days_old: 75,
        archs: AMD64,
        build: nginx_1_27_1,
    },
    Recipe {
        repository: "docker.io/library/postgres",
        tag: "15.5",
        days_old: 200,
        archs: AMD64,
        build: postgres_15_5,
    },
    Recipe {
        repository: "docker.io/library/postgres",
        tag: "15.8",
        days_old: 90,
        archs: AMD64,
        build: postgres_15_8,
    },
    Recipe {
        repository: "docker.io/library/redis",
        tag: "7.2.4-alpine",
        days_old: 180,
        archs: AMD64,
        build: redis,
    },
    Recipe {
        repository: "docker.io/library/alpine",
        tag: "3.19.1",
        days_old: 230,
        archs: AMD64,
        build: alpine,
    },
    Recipe {
        repository: "ghcr.io/acme/checkout-api",
        tag: "2.4.1",
        days_old: 330,
        archs: AMD64,
        build: checkout_2_4_1,
    },
    Recipe {
        repository: "ghcr.io/acme/checkout-api",
        tag: "2.5.0",
        days_old: 150,
        archs: AMD64,
        build: checkout_2_5_0,
    },
    Recipe {
        repository: "ghcr.io/acme/checkout-api",
        tag: "2.6.0",
        days_old: 12,
        archs: AMD64,
        build: checkout_2_6_0,
    },
    Recipe {
        repository: "ghcr.io/acme/storefront",
        tag: "3.8.0",
        days_old: 210,
        archs: AMD64,
        build: storefront_3_8_0,
    },
    Recipe {
        repository: "ghcr.io/acme/storefront",
        tag: "3.9.2",
        days_old: 40,
        archs: AMD64,
        build: storefront_3_9_2,
    },
    Recipe {
        repository: "ghcr.io/acme/billing",
        tag: "1.14.0",
        days_old: 120,
        archs: AMD64,
        build: billing,
    },
    Recipe {
        repository: "ghcr.io/acme/report-worker",
        tag: "0.9.3",
        days_old: 100,
        archs: AMD64,
        build: report_worker,
    },
    Recipe {
        repository: "ghcr.io/acme/feature-flags",
        tag: "1.3.0",
        days_old: 45,
        archs: AMD64,
        build: feature_flags,
    },
    Recipe {
        repository: "quay.io/prometheus/node-exporter",
        tag: "v1.7.0",
        days_old: 200,
        archs: MULTI_ARCH,
        build: node_exporter,
    },
];

// ---------------------------------------------------------------- Debian 12

/// The packages that change between Debian 12 point releases.
struct Bookworm {
    os_version: &'static str,
    base_files: &'static str,
    glibc: &'static str,
    openssl: &'static str,
    perl: &'static str,
    tar: &'static str,
}

/// Debian 12.1 (July 2023).
const BOOKWORM_12_1: Bookworm = Bookworm {
    os_version: "12.1",
    base_files: "12.4+deb12u1",
    glibc: "2.36-9+deb12u1",
    openssl: "3.0.9-1",
    perl: "5.36.0-7",
    tar: "1.34+dfsg-1.2",
};

/// Debian 12.4 (December 2023).
const BOOKWORM_12_4: Bookworm = Bookworm {
    os_version: "12.4",
    base_files: "12.4+deb12u4",
    glibc: "2.36-9+deb12u3",
    openssl: "3.0.11-1~deb12u2",
    perl: "5.36.0-7+deb12u1",
    tar: "1.34+dfsg-1.2+deb12u1",
};

/// Debian 12.7 (August 2024).
const BOOKWORM_12_7: Bookworm = Bookworm {
    os_version: "12.7",
    base_files: "12.4+deb12u7",
    glibc: "2.36-9+deb12u8",
    openssl: "3.0.14-1~deb12u1",
    perl: "5.36.0-7+deb12u1",
    tar: "1.34+dfsg-1.2+deb12u1",
};

const DEBIAN_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\nSUPPORT_URL=\"https://www.debian.org/support\"\nBUG_REPORT_URL=\"https://bugs.debian.org/\"\n";

fn bookworm_base(v: &Bookworm) -> Vec<Deb> {
    vec![
        deb(
            "apt",
            "2.6.1",
            None,
            "admin",
            4200,
            "commandline package manager",
        ),
        deb(
            "base-files",
            v.base_files,
            None,
            "admin",
            340,
            "Debian base system miscellaneous files",
        ),
        deb(
            "bash",
            "5.2.15-2+b2",
            None,
            "shells",
            7164,
            "GNU Bourne Again SHell",
        ),
        deb(
            "coreutils",
            "9.1-1",
            None,
            "utils",
            18062,
            "GNU core utilities",
        ),
        deb(
            "dpkg",
            "1.21.22",
            None,
            "admin",
            6383,
            "Debian package management system",
        ),
        deb(
            "libc-bin",
            v.glibc,
            Some("glibc"),
            "libs",
            2607,
            "GNU C Library: Binaries",
        ),
        deb(
            "libc6",
            v.glibc,
            Some("glibc"),
            "libs",
            12988,
            "GNU C Library: Shared libraries",
        ),
        deb(
            "libssl3",
            v.openssl,
            Some("openssl"),
            "libs",
            6155,
            "Secure Sockets Layer toolkit - shared libraries",
        ),
        deb(
            "libtinfo6",
            "6.4-4",
            Some("ncurses"),
            "libs",
            545,
            "shared low-level terminfo library for terminal handling",
        ),
        deb(
            "ncurses-base",
            "6.4-4",
            Some("ncurses"),
            "misc",
            407,
            "basic terminal type definitions",
        ),
        deb(
            "perl-base",
            v.perl,
            Some("perl"),
            "perl",
            7643,
            "minimal Perl system",
        ),
        deb(
            "tar",
            v.tar,
            None,
            "utils",
            3152,
            "GNU version of the tar archiving utility",
        ),
        deb(
            "zlib1g",
            "1:1.2.13.dfsg-1",
            Some("zlib"),
            "libs",
            168,
            "compression library - runtime",
        ),
    ]
}

/// `debian:bookworm-slim` at point release `v`: the rootfs layer and its `CMD`.
fn debian(v: &Bookworm, arch: Arch) -> ImageBuilder {
    let rootfs = LayerBuilder::new()
        .created_by(format!(
            "/bin/sh -c #(nop) ADD file:debian-{}-{}-rootfs.tar.xz in / ",
            v.os_version,
            arch.dpkg()
        ))
        .dir("etc")
        .file("etc/os-release", DEBIAN_OS_RELEASE, 0o644)
        .file("etc/debian_version", format!("{}\n", v.os_version), 0o644)
        .dir("var/lib/dpkg")
        .file(
            "var/lib/dpkg/status",
            dpkg_status(&bookworm_base(v), arch.dpkg()),
            0o644,
        );
    ImageBuilder::oci()
        .platform(arch.platform())
        .layer(rootfs)
        .empty_history("/bin/sh -c #(nop)  CMD [\"bash\"]")
}

/// An `apt-get install` layer: dpkg rewrites the whole status file.
fn apt_layer(v: &Bookworm, arch: Arch, command: &str, added: &[Deb]) -> LayerBuilder {
    let mut packages = bookworm_base(v);
    packages.extend_from_slice(added);
    packages.sort_by_key(|p| p.name);
    LayerBuilder::new()
        .created_by(format!(
            "RUN /bin/sh -c {command} && rm -rf /var/lib/apt/lists/* # buildkit"
        ))
        .file(
            "var/lib/dpkg/status",
            dpkg_status(&packages, arch.dpkg()),
            0o644,
        )
}

fn curl_packages(curl: &'static str, nghttp2: &'static str) -> [Deb; 3] {
    [
        deb(
            "curl",
            curl,
            None,
            "web",
            500,
            "command line tool for transferring data with URL syntax",
        ),
        deb(
            "libcurl4",
            curl,
            Some("curl"),
            "libs",
            1002,
            "easy-to-use client-side URL transfer library (OpenSSL flavour)",
        ),
        deb(
            "libnghttp2-14",
            nghttp2,
            Some("nghttp2"),
            "libs",
            466,
            "library implementing HTTP/2 protocol (shared library)",
        ),
    ]
}

fn nginx(v: &Bookworm, arch: Arch, version: &'static str, curl: [Deb; 3]) -> ImageBuilder {
    let nginx_deb = [deb(
        "nginx",
        version,
        None,
        "httpd",
        3400,
        "high performance web server",
    )];
    let added: Vec<Deb> = nginx_deb.iter().chain(curl.iter()).copied().collect();
    let upstream = version.split('-').next().unwrap_or(version);
    debian(v, arch)
        .label("maintainer", "NGINX Docker Maintainers <docker-maint@nginx.com>")
        .empty_history("LABEL maintainer=NGINX Docker Maintainers <docker-maint@nginx.com>")
        .env("NGINX_VERSION", upstream)
        .empty_history(&format!("ENV NGINX_VERSION={upstream}"))
        .layer(apt_layer(
            v,
            arch,
            &format!("set -x && apt-get update && apt-get install --no-install-recommends --no-install-suggests -y nginx={version} curl ca-certificates"),
            &added,
        ))
        .layer(
            LayerBuilder::new()
                .created_by("COPY docker-entrypoint.sh / # buildkit")
                .file(
                    "docker-entrypoint.sh",
                    "#!/bin/sh\nset -e\nexec \"$@\"\n",
                    0o755,
                ),
        )
        .entrypoint(["/docker-entrypoint.sh"])
        .empty_history("ENTRYPOINT [\"/docker-entrypoint.sh\"]")
        .empty_history("EXPOSE map[80/tcp:{}]")
        .empty_history("STOPSIGNAL SIGQUIT")
        .cmd(["nginx", "-g", "daemon off;"])
        .empty_history("CMD [\"nginx\" \"-g\" \"daemon off;\"]")
}

fn nginx_1_25_3(arch: Arch) -> ImageBuilder {
    nginx(
        &BOOKWORM_12_4,
        arch,
        "1.25.3-1~bookworm",
        curl_packages("7.88.1-10+deb12u4", "1.52.0-1"),
    )
}

fn nginx_1_27_1(arch: Arch) -> ImageBuilder {
    nginx(
        &BOOKWORM_12_7,
        arch,
        "1.27.1-1~bookworm",
        curl_packages("7.88.1-10+deb12u7", "1.52.0-1+deb12u1"),
    )
}

fn postgres(v: &Bookworm, arch: Arch, version: &'static str) -> ImageBuilder {
    let upstream = version.split('-').next().unwrap_or(version);
    let added = [
        deb(
            "libpq5",
            version,
            Some("postgresql-15"),
            "libs",
            925,
            "PostgreSQL C client library",
        ),
        deb(
            "postgresql-15",
            version,
            None,
            "database",
            56000,
            "The World's Most Advanced Open Source Relational Database",
        ),
        deb(
            "postgresql-client-15",
            version,
            Some("postgresql-15"),
            "database",
            5900,
            "front-end programs for PostgreSQL 15",
        ),
    ];
    debian(v, arch)
        .layer(
            LayerBuilder::new()
                .created_by("RUN /bin/sh -c set -eux; groupadd -r postgres --gid=999; useradd -r -g postgres --uid=999 --home-dir=/var/lib/postgresql --shell=/bin/bash postgres # buildkit")
                .file("etc/passwd", "root:x:0:0:root:/root:/bin/bash\npostgres:x:999:999::/var/lib/postgresql:/bin/bash\n", 0o644),
        )
        .env("PG_MAJOR", "15")
        .empty_history("ENV PG_MAJOR=15")
        .env("PG_VERSION", version)
        .empty_history(&format!("ENV PG_VERSION={version}"))
        .layer(apt_layer(
            v,
            arch,
            &format!("set -ex; apt-get update; apt-get install -y --no-install-recommends postgresql-15={version}"),
            &added,
        ))
        .env("PGDATA", "/var/lib/postgresql/data")
        .empty_history("ENV PGDATA=/var/lib/postgresql/data")
        .empty_history("VOLUME [/var/lib/postgresql/data]")
        .layer(
            LayerBuilder::new()
                .created_by("COPY docker-entrypoint.sh /usr/local/bin/ # buildkit")
                .file("usr/local/bin/docker-entrypoint.sh", "#!/usr/bin/env bash\nset -Eeo pipefail\nexec \"$@\"\n", 0o755),
        )
        .entrypoint(["docker-entrypoint.sh"])
        .empty_history("ENTRYPOINT [\"docker-entrypoint.sh\"]")
        .empty_history("EXPOSE map[5432/tcp:{}]")
        .cmd(["postgres"])
        .empty_history("CMD [\"postgres\"]")
        .label("org.opencontainers.image.version", upstream)
}

fn postgres_15_5(arch: Arch) -> ImageBuilder {
    postgres(&BOOKWORM_12_4, arch, "15.5-0+deb12u1")
}

fn postgres_15_8(arch: Arch) -> ImageBuilder {
    postgres(&BOOKWORM_12_7, arch, "15.8-0+deb12u1")
}

// ------------------------------------------------------------- Python apps

const SITE_PACKAGES: &str = "usr/local/lib/python3.11/site-packages";

/// (distribution name as installed, version, licence, summary)
type PyDist = (&'static str, &'static str, &'static str, &'static str);

fn python_layer(site: &str, command: String, dists: &[PyDist]) -> LayerBuilder {
    let mut layer = LayerBuilder::new()
        .created_by(command)
        .compression(Compression::Zstd);
    for (name, version, license, summary) in dists {
        let dir = format!("{site}/{}-{version}.dist-info", name.replace('-', "_"));
        layer = layer
            .file(
                &format!("{dir}/METADATA"),
                python_metadata(name, version, license, summary),
                0o644,
            )
            .file(&format!("{dir}/INSTALLER"), "pip\n", 0o644);
    }
    layer
}

/// `python:3.11-slim-bookworm` on point release `v`, then the checkout service.
fn checkout(
    v: &Bookworm,
    arch: Arch,
    apt: &[Deb],
    tooling: &[PyDist],
    app: &[PyDist],
    version: &str,
) -> ImageBuilder {
    let mut image = debian(v, arch)
        .env(
            "PATH",
            "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .empty_history("ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C.UTF-8")
        .empty_history("ENV LANG=C.UTF-8")
        .env("PYTHON_VERSION", "3.11.9")
        .empty_history("ENV PYTHON_VERSION=3.11.9");
    if !apt.is_empty() {
        let names: Vec<&str> = apt.iter().map(|d| d.name).collect();
        image = image.layer(apt_layer(
            v,
            arch,
            &format!(
                "set -eux; apt-get update; apt-get install -y --no-install-recommends {}",
                names.join(" ")
            ),
            apt,
        ));
    }
    image
        .layer(python_layer(
            SITE_PACKAGES,
            "RUN /bin/sh -c set -eux; ./configure --enable-optimizations --with-ensurepip; make install; python3 -m ensurepip # buildkit".to_owned(),
            tooling,
        ))
        .cmd(["python3"])
        .empty_history("CMD [\"python3\"]")
        .working_dir("/app")
        .empty_history("WORKDIR /app")
        .layer(
            LayerBuilder::new()
                .created_by("COPY requirements.txt . # buildkit")
                .file(
                    "app/requirements.txt",
                    app.iter()
                        .map(|(n, v, _, _)| format!("{n}=={v}\n"))
                        .collect::<String>(),
                    0o644,
                ),
        )
        .layer(python_layer(
            SITE_PACKAGES,
            "RUN /bin/sh -c pip install --no-cache-dir -r requirements.txt # buildkit".to_owned(),
            app,
        ))
        .layer(
            LayerBuilder::new()
                .created_by("COPY . /app # buildkit")
                .file("app/checkout/__init__.py", format!("__version__ = \"{version}\"\n"), 0o644)
                .file("app/checkout/wsgi.py", "from django.core.wsgi import get_wsgi_application\n\napplication = get_wsgi_application()\n", 0o644),
        )
        .user("10001")
        .empty_history("USER 10001")
        .empty_history("EXPOSE map[8000/tcp:{}]")
        .cmd(["gunicorn", "checkout.wsgi", "--bind", "0.0.0.0:8000"])
        .empty_history("CMD [\"gunicorn\" \"checkout.wsgi\" \"--bind\" \"0.0.0.0:8000\"]")
        .label("org.opencontainers.image.source", "https://github.com/acme/checkout-api")
        .label("org.opencontainers.image.version", version)
}

const PY_TOOLING_2023: &[PyDist] = &[
    (
        "pip",
        "23.0.1",
        "MIT",
        "The PyPA recommended tool for installing Python packages.",
    ),
    (
        "setuptools",
        "65.5.1",
        "MIT",
        "Easily download, build, install, upgrade, and uninstall Python packages",
    ),
    (
        "wheel",
        "0.41.2",
        "MIT",
        "A built-package format for Python",
    ),
];

const PY_TOOLING_2024: &[PyDist] = &[
    (
        "pip",
        "24.2",
        "MIT",
        "The PyPA recommended tool for installing Python packages.",
    ),
    (
        "setuptools",
        "65.5.1",
        "MIT",
        "Easily download, build, install, upgrade, and uninstall Python packages",
    ),
    (
        "wheel",
        "0.44.0",
        "MIT",
        "A built-package format for Python",
    ),
];

fn checkout_2_4_1(arch: Arch) -> ImageBuilder {
    checkout(
        &BOOKWORM_12_1,
        arch,
        &curl_packages("7.88.1-10+deb12u1", "1.52.0-1"),
        PY_TOOLING_2023,
        &[
            (
                "Django",
                "4.2.7",
                "BSD-3-Clause",
                "A high-level Python web framework",
            ),
            (
                "asgiref",
                "3.7.2",
                "BSD-3-Clause",
                "ASGI specs, helper code, and adapters",
            ),
            (
                "certifi",
                "2023.7.22",
                "MPL-2.0",
                "Python package for providing Mozilla's CA Bundle.",
            ),
            (
                "cryptography",
                "41.0.4",
                "Apache-2.0 OR BSD-3-Clause",
                "cryptography is a package which provides cryptographic recipes and primitives to Python developers.",
            ),
            ("gunicorn", "21.2.0", "MIT", "WSGI HTTP Server for UNIX"),
            (
                "idna",
                "3.4",
                "BSD-3-Clause",
                "Internationalized Domain Names in Applications (IDNA)",
            ),
            (
                "Jinja2",
                "3.1.2",
                "BSD-3-Clause",
                "A very fast and expressive template engine.",
            ),
            (
                "requests",
                "2.31.0",
                "Apache-2.0",
                "Python HTTP for Humans.",
            ),
            (
                "urllib3",
                "1.26.18",
                "MIT",
                "HTTP library with thread-safe connection pooling, file post, and more.",
            ),
        ],
        "2.4.1",
    )
}

fn checkout_2_5_0(arch: Arch) -> ImageBuilder {
    checkout(
        &BOOKWORM_12_4,
        arch,
        &[],
        PY_TOOLING_2023,
        &[
            (
                "Django",
                "4.2.11",
                "BSD-3-Clause",
                "A high-level Python web framework",
            ),
            (
                "asgiref",
                "3.7.2",
                "BSD-3-Clause",
                "ASGI specs, helper code, and adapters",
            ),
            (
                "certifi",
                "2024.2.2",
                "MPL-2.0",
                "Python package for providing Mozilla's CA Bundle.",
            ),
            (
                "cryptography",
                "42.0.5",
                "Apache-2.0 OR BSD-3-Clause",
                "cryptography is a package which provides cryptographic recipes and primitives to Python developers.",
            ),
            ("gunicorn", "21.2.0", "MIT", "WSGI HTTP Server for UNIX"),
            (
                "idna",
                "3.6",
                "BSD-3-Clause",
                "Internationalized Domain Names in Applications (IDNA)",
            ),
            (
                "Jinja2",
                "3.1.3",
                "BSD-3-Clause",
                "A very fast and expressive template engine.",
            ),
            (
                "requests",
                "2.31.0",
                "Apache-2.0",
                "Python HTTP for Humans.",
            ),
            (
                "urllib3",
                "1.26.18",
                "MIT",
                "HTTP library with thread-safe connection pooling, file post, and more.",
            ),
        ],
        "2.5.0",
    )
}

fn checkout_2_6_0(arch: Arch) -> ImageBuilder {
    checkout(
        &BOOKWORM_12_7,
        arch,
        &[],
        PY_TOOLING_2024,
        &[
            (
                "Django",
                "4.2.16",
                "BSD-3-Clause",
                "A high-level Python web framework",
            ),
            (
                "asgiref",
                "3.8.1",
                "BSD-3-Clause",
                "ASGI specs, helper code, and adapters",
            ),
            (
                "certifi",
                "2024.8.30",
                "MPL-2.0",
                "Python package for providing Mozilla's CA Bundle.",
            ),
            (
                "cryptography",
                "43.0.1",
                "Apache-2.0 OR BSD-3-Clause",
                "cryptography is a package which provides cryptographic recipes and primitives to Python developers.",
            ),
            ("gunicorn", "23.0.0", "MIT", "WSGI HTTP Server for UNIX"),
            (
                "idna",
                "3.10",
                "BSD-3-Clause",
                "Internationalized Domain Names in Applications (IDNA)",
            ),
            (
                "Jinja2",
                "3.1.4",
                "BSD-3-Clause",
                "A very fast and expressive template engine.",
            ),
            (
                "requests",
                "2.32.3",
                "Apache-2.0",
                "Python HTTP for Humans.",
            ),
            (
                "urllib3",
                "1.26.20",
                "MIT",
                "HTTP library with thread-safe connection pooling, file post, and more.",
            ),
        ],
        "2.6.0",
    )
}

// ----------------------------------------------------------------- Ruby app

/// `ruby:3.2-slim-bookworm` plus the billing service, built by a CI tool that
/// writes no history (the UI says so instead of showing layer commands).
fn billing(arch: Arch) -> ImageBuilder {
    let gem_arch = match arch {
        Arch::Amd64 => "x86_64-linux",
        Arch::Arm64 => "aarch64-linux",
    };
    let bundled = "usr/local/lib/ruby/gems/3.2.0/specifications";
    let app = "usr/local/bundle/specifications";
    let gems: &[(&str, &str, &str, &str)] = &[
        (
            "mustermann",
            "3.0.0",
            "MIT",
            "Your personal string matching expert.",
        ),
        (
            "puma",
            "6.3.1",
            "BSD-3-Clause",
            "A Ruby/Rack web server built for parallelism.",
        ),
        (
            "rack",
            "2.2.6.2",
            "MIT",
            "A modular Ruby webserver interface.",
        ),
        (
            "rack-protection",
            "3.1.0",
            "MIT",
            "Protect against typical web attacks.",
        ),
        (
            "sinatra",
            "3.1.0",
            "MIT",
            "Classy web-development dressed in a DSL",
        ),
        (
            "tilt",
            "2.3.0",
            "MIT",
            "Generic interface to multiple Ruby template engines",
        ),
    ];
    let mut bundle = LayerBuilder::new();
    for (name, version, license, summary) in gems {
        bundle = bundle.file(
            &format!("{app}/{name}-{version}.gemspec"),
            gemspec(name, version, license, summary),
            0o644,
        );
    }
    bundle = bundle.file(
        &format!("{app}/nokogiri-1.15.4-{gem_arch}.gemspec"),
        gemspec(
            "nokogiri",
            "1.15.4",
            "MIT",
            "Nokogiri makes it easy and painless to work with XML and HTML from Ruby.",
        ),
        0o644,
    );
    debian(&BOOKWORM_12_4, arch)
        .layer(
            LayerBuilder::new()
                .file(
                    &format!("{bundled}/rexml-3.2.5.gemspec"),
                    gemspec("rexml", "3.2.5", "BSD-2-Clause", "An XML toolkit for Ruby"),
                    0o644,
                )
                .file(
                    &format!("{bundled}/minitest-5.16.3.gemspec"),
                    gemspec("minitest", "5.16.3", "MIT", "minitest provides a complete suite of testing facilities"),
                    0o644,
                ),
        )
        .layer(
            LayerBuilder::new()
                .file(
                    "app/Gemfile.lock",
                    "GEM\n  remote: https://rubygems.org/\n  specs:\n    nokogiri (1.15.4)\n    puma (6.3.1)\n    rack (2.2.6.2)\n    sinatra (3.1.0)\n\nBUNDLED WITH\n   2.4.19\n",
                    0o644,
                )
                .file("app/config.ru", "require_relative \"app\"\nrun Billing::App\n", 0o644),
        )
        .layer(bundle)
        .env("BUNDLE_PATH", "/usr/local/bundle")
        .env("RUBY_VERSION", "3.2.2")
        .working_dir("/app")
        .cmd(["bundle", "exec", "puma", "-C", "config/puma.rb"])
        .without_history()
}

// ---------------------------------------------------------------- Alpine

/// The packages that change between Alpine 3.19 releases.
struct Alpine {
    version: &'static str,
    busybox: &'static str,
    openssl: &'static str,
    ca_certificates: &'static str,
}

/// Alpine 3.19.1 (January 2024).
const ALPINE_3_19_1: Alpine = Alpine {
    version: "3.19.1",
    busybox: "1.36.1-r15",
    openssl: "3.1.4-r5",
    ca_certificates: "20230506-r0",
};

/// Alpine 3.19.4 (September 2024).
const ALPINE_3_19_4: Alpine = Alpine {
    version: "3.19.4",
    busybox: "1.36.1-r20",
    openssl: "3.1.7-r0",
    ca_certificates: "20240705-r0",
};

fn alpine_base(v: &Alpine) -> Vec<Apk> {
    vec![
        apk(
            "alpine-baselayout",
            "3.4.3-r2",
            "alpine-baselayout",
            "GPL-2.0-only",
            "Alpine base dir structure and init scripts",
        ),
        apk(
            "alpine-baselayout-data",
            "3.4.3-r2",
            "alpine-baselayout",
            "GPL-2.0-only",
            "Alpine base dir structure and init scripts",
        ),
        apk(
            "alpine-keys",
            "2.4-r1",
            "alpine-keys",
            "MIT",
            "Public keys for Alpine Linux packages",
        ),
        apk(
            "apk-tools",
            "2.14.0-r5",
            "apk-tools",
            "GPL-2.0-only",
            "Alpine Package Keeper - package manager for alpine",
        ),
        apk(
            "busybox",
            v.busybox,
            "busybox",
            "GPL-2.0-only",
            "Size optimized toolbox of many common UNIX utilities",
        ),
        apk(
            "busybox-binsh",
            v.busybox,
            "busybox",
            "GPL-2.0-only",
            "busybox ash /bin/sh",
        ),
        apk(
            "ca-certificates-bundle",
            v.ca_certificates,
            "ca-certificates",
            "MPL-2.0 AND MIT",
            "Pre generated bundle of Mozilla certificates",
        ),
        apk(
            "libc-utils",
            "0.7.2-r5",
            "libc-dev",
            "BSD-2-Clause AND BSD-3-Clause",
            "Meta package to pull in correct libc",
        ),
        apk(
            "libcrypto3",
            v.openssl,
            "openssl",
            "Apache-2.0",
            "Crypto library from openssl",
        ),
        apk(
            "libssl3",
            v.openssl,
            "openssl",
            "Apache-2.0",
            "SSL shared libraries",
        ),
        apk(
            "musl",
            "1.2.4_git20230717-r4",
            "musl",
            "MIT",
            "the musl c library (libc) implementation",
        ),
        apk(
            "musl-utils",
            "1.2.4_git20230717-r4",
            "musl",
            "MIT AND BSD-2-Clause AND GPL-2.0-or-later",
            "the musl c library (libc) implementation",
        ),
        apk(
            "scanelf",
            "1.3.7-r2",
            "pax-utils",
            "GPL-2.0-only",
            "Scan ELF binaries for stuff",
        ),
        apk(
            "ssl_client",
            v.busybox,
            "busybox",
            "GPL-2.0-only",
            "EXternal ssl_client for busybox wget",
        ),
        apk(
            "zlib",
            "1.3.1-r0",
            "zlib",
            "Zlib",
            "A compression/decompression Library",
        ),
    ]
}

fn alpine_os_release(v: &Alpine) -> String {
    format!(
        "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID={}\nPRETTY_NAME=\"Alpine Linux v3.19\"\nHOME_URL=\"https://alpinelinux.org/\"\nBUG_REPORT_URL=\"https://gitlab.alpinelinux.org/alpine/aports/-/issues\"\n",
        v.version
    )
}

fn alpine_arch(arch: Arch) -> &'static str {
    match arch {
        Arch::Amd64 => "x86_64",
        Arch::Arm64 => "aarch64",
    }
}

/// `alpine:<version>`: the rootfs layer and its `CMD`.
fn alpine_image(v: &Alpine, arch: Arch) -> ImageBuilder {
    let rootfs = LayerBuilder::new()
        .created_by(format!(
            "/bin/sh -c #(nop) ADD file:alpine-minirootfs-{}-{}.tar.gz in / ",
            v.version,
            alpine_arch(arch)
        ))
        .dir("etc")
        .file("etc/os-release", alpine_os_release(v), 0o644)
        .file("etc/alpine-release", format!("{}\n", v.version), 0o644)
        .dir("lib/apk/db")
        .file(
            "lib/apk/db/installed",
            apk_installed(&alpine_base(v), alpine_arch(arch)),
            0o644,
        );
    ImageBuilder::oci()
        .platform(arch.platform())
        .layer(rootfs)
        .empty_history("/bin/sh -c #(nop)  CMD [\"/bin/sh\"]")
}

/// An `apk add` layer: apk rewrites the whole installed database.
fn apk_layer(v: &Alpine, arch: Arch, command: &str, added: &[Apk]) -> LayerBuilder {
    let mut packages = alpine_base(v);
    packages.extend_from_slice(added);
    packages.sort_by_key(|p| p.name);
    LayerBuilder::new()
        .created_by(format!("RUN /bin/sh -c {command} # buildkit"))
        .file(
            "lib/apk/db/installed",
            apk_installed(&packages, alpine_arch(arch)),
            0o644,
        )
}

fn alpine(arch: Arch) -> ImageBuilder {
    alpine_image(&ALPINE_3_19_1, arch).cmd(["/bin/sh"])
}

fn redis(arch: Arch) -> ImageBuilder {
    alpine_image(&ALPINE_3_19_1, arch)
        .layer(
            LayerBuilder::new()
                .created_by("RUN /bin/sh -c addgroup -S -g 1000 redis && adduser -S -G redis -u 999 redis # buildkit")
                .file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nredis:x:999:1000:Linux User,,,:/home/redis:/sbin/nologin\n", 0o644),
        )
        .layer(apk_layer(
            &ALPINE_3_19_1,
            arch,
            "apk add --no-cache su-exec tzdata",
            &[
                apk("su-exec", "0.2-r3", "su-exec", "MIT", "switch user and group id, setgroups and exec"),
                apk("tzdata", "2024a-r0", "tzdata", "Public-Domain", "Timezone data"),
            ],
        ))
        .env("REDIS_VERSION", "7.2.4")
        .empty_history("ENV REDIS_VERSION=7.2.4")
        .layer(
            LayerBuilder::new()
                .created_by("RUN /bin/sh -c set -eux; make -C /usr/src/redis -j BUILD_TLS=yes; make -C /usr/src/redis install # buildkit")
                .file("usr/local/bin/redis-server", "redis-server 7.2.4 (demo stand-in for the binary)\n", 0o755),
        )
        .working_dir("/data")
        .empty_history("WORKDIR /data")
        .empty_history("EXPOSE map[6379/tcp:{}]")
        .cmd(["redis-server"])
        .empty_history("CMD [\"redis-server\"]")
}

fn storefront(
    v: &Alpine,
    arch: Arch,
    nodejs: &'static str,
    modules: &[(&str, &str, &str)],
    version: &str,
) -> ImageBuilder {
    let mut deps = LayerBuilder::new()
        .created_by("RUN /bin/sh -c npm ci --omit=dev && npm cache clean --force # buildkit")
        .compression(Compression::Zstd);
    for (name, module_version, license) in modules {
        deps = deps.file(
            &format!("app/node_modules/{name}/package.json"),
            npm_package_json(name, module_version, license),
            0o644,
        );
    }
    alpine_image(v, arch)
        .env("NODE_VERSION", nodejs.split('-').next().unwrap_or(nodejs))
        .layer(apk_layer(
            v,
            arch,
            "apk add --no-cache nodejs npm",
            &[
                apk(
                    "nodejs",
                    nodejs,
                    "nodejs",
                    "MIT",
                    "JavaScript runtime built on V8 engine - LTS version",
                ),
                apk(
                    "libstdc++",
                    "13.2.1_git20231014-r0",
                    "gcc",
                    "GPL-2.0-or-later AND LGPL-2.1-or-later",
                    "GNU C++ standard runtime library",
                ),
                apk(
                    "libgcc",
                    "13.2.1_git20231014-r0",
                    "gcc",
                    "GPL-2.0-or-later AND LGPL-2.1-or-later",
                    "GNU C compiler runtime libraries",
                ),
            ],
        ))
        .working_dir("/app")
        .empty_history("WORKDIR /app")
        .layer(
            LayerBuilder::new()
                .created_by("COPY package.json package-lock.json ./ # buildkit")
                .file(
                    "app/package.json",
                    npm_package_json("storefront", version, "UNLICENSED"),
                    0o644,
                ),
        )
        .layer(deps)
        .layer(
            LayerBuilder::new()
                .created_by("COPY dist/ ./dist/ # buildkit")
                .file(
                    "app/dist/server.js",
                    "require('./app').listen(process.env.PORT || 3000);\n",
                    0o644,
                ),
        )
        .env("NODE_ENV", "production")
        .empty_history("ENV NODE_ENV=production")
        .user("node")
        .empty_history("USER node")
        .empty_history("EXPOSE map[3000/tcp:{}]")
        .cmd(["node", "dist/server.js"])
        .empty_history("CMD [\"node\" \"dist/server.js\"]")
        .label(
            "org.opencontainers.image.source",
            "https://github.com/acme/storefront",
        )
        .label("org.opencontainers.image.version", version)
}

fn storefront_3_8_0(arch: Arch) -> ImageBuilder {
    storefront(
        &ALPINE_3_19_1,
        arch,
        "20.11.1-r0",
        &[
            ("@babel/traverse", "7.22.0", "MIT"),
            ("axios", "1.5.1", "MIT"),
            ("body-parser", "1.20.1", "MIT"),
            ("express", "4.18.2", "MIT"),
            ("lodash", "4.17.20", "MIT"),
            ("semver", "7.5.1", "ISC"),
            ("ws", "8.13.0", "MIT"),
        ],
        "3.8.0",
    )
}

fn storefront_3_9_2(arch: Arch) -> ImageBuilder {
    storefront(
        &ALPINE_3_19_4,
        arch,
        "20.15.1-r0",
        &[
            ("axios", "1.6.8", "MIT"),
            ("body-parser", "1.20.2", "MIT"),
            ("express", "4.19.2", "MIT"),
            ("lodash", "4.17.21", "MIT"),
            ("semver", "7.6.0", "ISC"),
            ("ws", "8.16.0", "MIT"),
        ],
        "3.9.2",
    )
}

fn report_worker(arch: Arch) -> ImageBuilder {
    let site = "usr/lib/python3.11/site-packages";
    alpine_image(&ALPINE_3_19_1, arch)
        .layer(apk_layer(
            &ALPINE_3_19_1,
            arch,
            "apk add --no-cache python3 py3-pip",
            &[
                apk("python3", "3.11.8-r0", "python3", "PSF-2.0", "A high-level scripting language"),
                apk("py3-pip", "23.3.1-r0", "py3-pip", "MIT", "Tool for installing and managing Python packages"),
            ],
        ))
        .layer(python_layer(
            site,
            "RUN /bin/sh -c pip install --break-system-packages --no-cache-dir -r /tmp/requirements.txt # buildkit".to_owned(),
            &[
                ("certifi", "2024.2.2", "MPL-2.0", "Python package for providing Mozilla's CA Bundle."),
                ("idna", "3.6", "BSD-3-Clause", "Internationalized Domain Names in Applications (IDNA)"),
                ("PyYAML", "6.0.1", "MIT", "YAML parser and emitter for Python"),
                ("requests", "2.31.0", "Apache-2.0", "Python HTTP for Humans."),
                ("urllib3", "2.0.7", "MIT", "HTTP library with thread-safe connection pooling, file post, and more."),
            ],
        ))
        .layer(
            LayerBuilder::new()
                .created_by("COPY report.py /usr/local/bin/report # buildkit")
                .file("usr/local/bin/report", "#!/usr/bin/env python3\nimport report_worker.main\n", 0o755),
        )
        .user("65534")
        .empty_history("USER 65534")
        .entrypoint(["/usr/local/bin/report"])
        .empty_history("ENTRYPOINT [\"/usr/local/bin/report\"]")
}

// ------------------------------------------------------------ no packages

/// `gcr.io/distroless/static-debian12` plus one static binary: no package
/// with a known vulnerability, so the report shows it clean.
fn feature_flags(arch: Arch) -> ImageBuilder {
    let packages = [
        deb(
            "base-files",
            BOOKWORM_12_7.base_files,
            None,
            "admin",
            340,
            "Debian base system miscellaneous files",
        ),
        deb(
            "media-types",
            "10.0.0",
            None,
            "net",
            92,
            "List of standard media types and their usual file extension",
        ),
        deb(
            "netbase",
            "6.4",
            None,
            "admin",
            41,
            "Basic TCP/IP networking system",
        ),
        deb(
            "tzdata",
            "2024a-0+deb12u1",
            None,
            "localization",
            2863,
            "time zone and daylight-saving time data",
        ),
    ];
    let mut base = LayerBuilder::new()
        .created_by("bazel build //base:static_root_debian12")
        .file("etc/os-release", DEBIAN_OS_RELEASE, 0o644)
        .dir("var/lib/dpkg/status.d");
    for package in &packages {
        let mut stanza = String::new();
        dpkg_stanza(&mut stanza, package, arch.dpkg());
        base = base.file(
            &format!("var/lib/dpkg/status.d/{}", package.name),
            stanza,
            0o644,
        );
    }
    ImageBuilder::oci()
        .platform(arch.platform())
        .layer(base)
        .layer(
            LayerBuilder::new()
                .created_by("COPY /out/feature-flags /feature-flags # buildkit")
                .file(
                    "feature-flags",
                    "feature-flags 1.3.0 (demo stand-in for the binary)\n",
                    0o755,
                ),
        )
        .user("65532:65532")
        .empty_history("USER 65532:65532")
        .entrypoint(["/feature-flags"])
        .empty_history("ENTRYPOINT [\"/feature-flags\"]")
        .label(
            "org.opencontainers.image.source",
            "https://github.com/acme/feature-flags",
        )
}

/// `quay.io/prometheus/node-exporter`: a busybox base and one binary, for
/// amd64 and arm64 nodes alike.
fn node_exporter(arch: Arch) -> ImageBuilder {
    ImageBuilder::oci()
        .platform(arch.platform())
        .layer(
            LayerBuilder::new()
                .created_by(format!(
                    "/bin/sh -c #(nop) ADD file:busybox-glibc-{}.tar in / ",
                    arch.dpkg()
                ))
                .file(
                    "etc/passwd",
                    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
                    0o644,
                )
                .file("etc/group", "root:x:0:\nnobody:x:65534:\n", 0o644),
        )
        .label(
            "maintainer",
            "The Prometheus Authors <prometheus-developers@googlegroups.com>",
        )
        .empty_history(
            "LABEL maintainer=The Prometheus Authors <prometheus-developers@googlegroups.com>",
        )
        .layer(
            LayerBuilder::new()
                .created_by(format!(
                    "COPY .build/linux-{}/node_exporter /bin/node_exporter # buildkit",
                    arch.dpkg()
                ))
                .file(
                    "bin/node_exporter",
                    "node_exporter 1.7.0 (demo stand-in for the binary)\n",
                    0o755,
                ),
        )
        .empty_history("EXPOSE map[9100/tcp:{}]")
        .user("nobody")
        .empty_history("USER nobody")
        .entrypoint(["/bin/node_exporter"])
        .empty_history("ENTRYPOINT [\"/bin/node_exporter\"]")
}
