//! Shared by the server's router tests.

#![allow(dead_code)] // each test binary uses a part

use std::collections::BTreeMap;

use server::secret::{Secret, SecretKind};
use store::fixtures::at;
use store::{NewToken, Role, SqliteStore, Store};

/// One API token per `(name, role, cluster)` (a cluster makes it an agent
/// token); returns each name's token.
pub async fn tokens(
    store: &SqliteStore,
    who: &[(&'static str, Role, Option<&str>)],
) -> BTreeMap<&'static str, String> {
    let mut tokens = BTreeMap::new();
    for (name, role, cluster) in who {
        let token = Secret::generate(SecretKind::ApiToken).unwrap();
        store
            .create_token(
                &NewToken {
                    name: (*name).to_owned(),
                    token_hash: token.hash(),
                    role: *role,
                    user: None,
                    cluster: cluster.map(str::to_owned),
                },
                at(0),
            )
            .await
            .unwrap();
        tokens.insert(*name, token.expose().to_owned());
    }
    tokens
}
