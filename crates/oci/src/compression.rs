/// How a layer blob is compressed, guessed from its media type.
///
/// Only a guess: registries and tools mislabel layers, so the analyzer also
/// sniffs the magic bytes. `Unknown` means the media type did not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Unknown,
}

impl Compression {
    pub fn from_media_type(media_type: &str) -> Compression {
        // Parameters (`; charset=…`) never change the encoding.
        let mt = media_type
            .split(';')
            .next()
            .unwrap_or(media_type)
            .trim()
            .to_ascii_lowercase();
        match mt.as_str() {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar"
            | "application/x-tar" => Compression::None,
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Compression::Gzip,
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Compression::Zstd,
            other if other.ends_with("tar+gzip") || other.ends_with("tar.gzip") => {
                Compression::Gzip
            }
            other if other.ends_with("tar+zstd") || other.ends_with("tar.zstd") => {
                Compression::Zstd
            }
            _ => Compression::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_from_media_types() {
        let cases = [
            ("application/vnd.oci.image.layer.v1.tar", Compression::None),
            (
                "application/vnd.oci.image.layer.v1.tar+gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.oci.image.layer.v1.tar+zstd",
                Compression::Zstd,
            ),
            (
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                Compression::Gzip,
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar",
                Compression::None,
            ),
            (
                "Application/VND.OCI.Image.Layer.v1.Tar+Gzip; x=y",
                Compression::Gzip,
            ),
            ("application/vnd.example.custom.tar+zstd", Compression::Zstd),
            (
                "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                Compression::Gzip,
            ),
            ("application/octet-stream", Compression::Unknown),
            ("application/vnd.in-toto+json", Compression::Unknown),
            ("", Compression::Unknown),
        ];
        for (mt, expected) in cases {
            assert_eq!(Compression::from_media_type(mt), expected, "{mt}");
        }
    }
}
