//! The account page as Vite builds it into `web/dist/` (`npm run build` in `web/`),
//! embedded in the binary: `tessera serve` alone serves it, with no network and no files
//! at run time. The built files are committed; CI rebuilds them and fails when they
//! differ from the sources. A test below fails when this table and `web/dist/` disagree.

/// One embedded file.
pub struct Asset {
    /// The path it is served at.
    pub path: &'static str,
    /// Its `content-type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// Every file of the built page; the first is the page itself.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/account",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/dist/index.html"),
    },
    Asset {
        path: "/account/assets/account.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/dist/assets/account.js"),
    },
    Asset {
        path: "/account/assets/account.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/dist/assets/account.css"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn files_under(dir: &Path, prefix: &str, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("web/dist is readable") {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                files_under(&entry.path(), &format!("{name}/"), found);
            } else {
                found.push(name);
            }
        }
    }

    #[test]
    fn every_built_file_is_embedded_and_nothing_else() {
        let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/dist");
        let mut built = Vec::new();
        files_under(&dist, "", &mut built);
        built.sort();
        // Served at /account/{file}, the page itself at /account.
        let mut embedded: Vec<String> = ASSETS
            .iter()
            .map(|a| match a.path.strip_prefix("/account/") {
                Some(file) => file.to_owned(),
                None => "index.html".to_owned(),
            })
            .collect();
        embedded.sort();
        assert_eq!(
            built, embedded,
            "web/dist and src/web/assets.rs list different files"
        );
    }
}
