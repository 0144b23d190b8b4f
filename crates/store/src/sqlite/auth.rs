//! Users, API tokens and sessions. The store keeps the hashes it is given
//! and looks them up; hashing and comparing secrets is the server's job.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;

use super::{from_ts, from_ts_opt, ts};
use crate::{
    ApiToken, NewSession, NewToken, NewUser, PasswordChange, Result, Role, Session, StoreError,
    TokenId, User, UserId, UserUpdate,
};

const MAX_NAME_LEN: usize = 256;

fn check_name(what: &'static str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            what,
            format!("must be 1 to {MAX_NAME_LEN} bytes without control characters"),
        ));
    }
    Ok(())
}

/// A unique violation becomes a conflict naming `key` (never a hash).
fn conflict(error: sqlx::Error, what: &'static str, key: &str) -> StoreError {
    if error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
    {
        StoreError::Conflict {
            what,
            key: key.to_owned(),
        }
    } else {
        StoreError::Sql(error)
    }
}

fn parse_role(text: &str) -> Result<Role> {
    Role::from_str_stored(text).ok_or_else(|| StoreError::decode("role", text))
}

const USER_COLUMNS: &str =
    "u.id, u.name, u.role, u.password_hash, u.created, u.disabled, u.must_change_password";
/// How many columns `USER_COLUMNS` takes (what follows it starts here).
const USER_COLUMN_COUNT: usize = 7;

fn user_from_row(row: &SqliteRow) -> Result<User> {
    let role: String = row.try_get(2)?;
    Ok(User {
        id: UserId(row.try_get(0)?),
        name: row.try_get(1)?,
        role: parse_role(&role)?,
        password_hash: row.try_get(3)?,
        created: from_ts("user created", row.try_get(4)?)?,
        disabled: row.try_get(5)?,
        must_change_password: row.try_get(6)?,
    })
}

pub(crate) async fn create_user(
    conn: &mut SqliteConnection,
    user: &NewUser,
    now: OffsetDateTime,
) -> Result<UserId> {
    check_name("user name", &user.name)?;
    let id = sqlx::query_scalar(
        "INSERT INTO app_user (name, role, password_hash, created, disabled, must_change_password) \
         VALUES ($1, $2, $3, $4, FALSE, $5) RETURNING id",
    )
    .bind(&user.name)
    .bind(user.role.as_str())
    .bind(&user.password_hash)
    .bind(ts(now))
    .bind(user.must_change_password)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| conflict(e, "user", &user.name))?;
    Ok(UserId(id))
}

pub(crate) async fn user_by_name(conn: &mut SqliteConnection, name: &str) -> Result<Option<User>> {
    let row = sqlx::query(sql_text!(
        "SELECT {USER_COLUMNS} FROM app_user u WHERE u.name = $1"
    ))
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub(crate) async fn user_by_id(conn: &mut SqliteConnection, id: UserId) -> Result<Option<User>> {
    let row = sqlx::query(sql_text!(
        "SELECT {USER_COLUMNS} FROM app_user u WHERE u.id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub(crate) async fn users(conn: &mut SqliteConnection) -> Result<Vec<User>> {
    let rows = sqlx::query(sql_text!(
        "SELECT {USER_COLUMNS} FROM app_user u ORDER BY u.name"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(user_from_row).collect()
}

fn user_updated(rows: u64, id: UserId) -> Result<()> {
    if rows == 0 {
        return Err(StoreError::NotFound {
            what: "user",
            key: id.to_string(),
        });
    }
    Ok(())
}

/// Applies `update`, then checks, inside the same transaction, that an
/// enabled admin remains: two admins demoting each other at once cannot
/// both succeed, as the writer connection serialises the transactions.
pub(crate) async fn update_user(
    conn: &mut SqliteConnection,
    id: UserId,
    update: &UserUpdate,
) -> Result<User> {
    let rows = sqlx::query(
        "UPDATE app_user SET role = COALESCE($1, role), disabled = COALESCE($2, disabled) \
         WHERE id = $3",
    )
    .bind(update.role.map(Role::as_str))
    .bind(update.disabled)
    .bind(id.0)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    user_updated(rows, id)?;
    let admins: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM app_user WHERE role = $1 AND disabled = FALSE")
            .bind(Role::Admin.as_str())
            .fetch_one(&mut *conn)
            .await?;
    if admins == 0 {
        // The caller's transaction is dropped, which rolls the update back.
        return Err(StoreError::LastAdmin);
    }
    if update.disabled == Some(true) {
        sqlx::query("DELETE FROM session WHERE user_id = $1")
            .bind(id.0)
            .execute(&mut *conn)
            .await?;
    }
    user_by_id(conn, id)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "user",
            key: id.to_string(),
        })
}

pub(crate) async fn set_password(
    conn: &mut SqliteConnection,
    id: UserId,
    change: &PasswordChange,
) -> Result<()> {
    let rows = sqlx::query(
        "UPDATE app_user SET password_hash = $1, must_change_password = $2 WHERE id = $3",
    )
    .bind(&change.password_hash)
    .bind(change.must_change_password)
    .bind(id.0)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    user_updated(rows, id)?;
    // `session_hash <> NULL` is never true, so with no session to keep every
    // session goes: say so explicitly instead of relying on that.
    match &change.keep_session {
        Some(keep) => {
            sqlx::query("DELETE FROM session WHERE user_id = $1 AND session_hash <> $2")
                .bind(id.0)
                .bind(keep)
                .execute(&mut *conn)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM session WHERE user_id = $1")
                .bind(id.0)
                .execute(&mut *conn)
                .await?
        }
    };
    Ok(())
}

const TOKEN_COLUMNS: &str =
    "t.id, t.name, t.role, t.user_id, t.cluster, t.created, t.last_used, t.revoked, u.role";

/// A token with its user's role (`u.role`, NULL for tokens without a user):
/// a user's token never has more rights than the user has now.
fn token_from_row(row: &SqliteRow) -> Result<ApiToken> {
    let role: String = row.try_get(2)?;
    let user: Option<i64> = row.try_get(3)?;
    let user_role: Option<String> = row.try_get(8)?;
    let mut role = parse_role(&role)?;
    if let Some(user_role) = user_role {
        role = role.min(parse_role(&user_role)?);
    }
    Ok(ApiToken {
        id: TokenId(row.try_get(0)?),
        name: row.try_get(1)?,
        role,
        user: user.map(UserId),
        cluster: row.try_get(4)?,
        created: from_ts("token created", row.try_get(5)?)?,
        last_used: from_ts_opt("token last used", row.try_get(6)?)?,
        revoked: from_ts_opt("token revoked", row.try_get(7)?)?,
    })
}

pub(crate) async fn create_token(
    conn: &mut SqliteConnection,
    token: &NewToken,
    now: OffsetDateTime,
) -> Result<TokenId> {
    check_name("token name", &token.name)?;
    if token.token_hash.len() != 64 || !token.token_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::invalid(
            "token hash",
            "expected the SHA-256 of the token as 64 hex digits",
        ));
    }
    let id = sqlx::query_scalar(
        "INSERT INTO api_token (name, token_hash, role, user_id, cluster, created) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(&token.name)
    .bind(token.token_hash.to_ascii_lowercase())
    .bind(token.role.as_str())
    .bind(token.user.map(|u| u.0))
    .bind(&token.cluster)
    .bind(ts(now))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| conflict(e, "token", &token.name))?;
    Ok(TokenId(id))
}

pub(crate) async fn token_by_hash(
    conn: &mut SqliteConnection,
    hash: &str,
) -> Result<Option<ApiToken>> {
    let row = sqlx::query(sql_text!(
        "SELECT {TOKEN_COLUMNS} FROM api_token t LEFT JOIN app_user u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.revoked IS NULL \
         AND (t.user_id IS NULL OR u.disabled = FALSE)"
    ))
    .bind(hash.to_ascii_lowercase())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(token_from_row).transpose()
}

pub(crate) async fn tokens(conn: &mut SqliteConnection) -> Result<Vec<ApiToken>> {
    let rows = sqlx::query(sql_text!(
        "SELECT {TOKEN_COLUMNS} FROM api_token t LEFT JOIN app_user u ON u.id = t.user_id \
         ORDER BY t.id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(token_from_row).collect()
}

pub(crate) async fn set_token_time(
    conn: &mut SqliteConnection,
    id: TokenId,
    column: &str,
    now: OffsetDateTime,
) -> Result<()> {
    let updated = sqlx::query(sql_text!(
        "UPDATE api_token SET {column} = $1 WHERE id = $2"
    ))
    .bind(ts(now))
    .bind(id.0)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(StoreError::NotFound {
            what: "token",
            key: id.to_string(),
        });
    }
    Ok(())
}

pub(crate) async fn create_session(
    conn: &mut SqliteConnection,
    session: &NewSession,
    now: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO session (session_hash, user_id, csrf_hash, created, expires) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&session.session_hash)
    .bind(session.user.0)
    .bind(&session.csrf_hash)
    .bind(ts(now))
    .bind(ts(session.expires))
    .execute(&mut *conn)
    .await
    .map_err(|e| conflict(e, "session", "(hash withheld)"))?;
    Ok(())
}

pub(crate) async fn session_by_hash(
    conn: &mut SqliteConnection,
    hash: &str,
    now: OffsetDateTime,
) -> Result<Option<Session>> {
    let row = sqlx::query(sql_text!(
        "SELECT {USER_COLUMNS}, s.csrf_hash, s.created, s.expires FROM session s \
         JOIN app_user u ON u.id = s.user_id \
         WHERE s.session_hash = $1 AND s.expires > $2 AND u.disabled = FALSE"
    ))
    .bind(hash)
    .bind(ts(now))
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        Ok(Session {
            user: user_from_row(&row)?,
            csrf_hash: row.try_get(USER_COLUMN_COUNT)?,
            created: from_ts("session created", row.try_get(USER_COLUMN_COUNT + 1)?)?,
            expires: from_ts("session expiry", row.try_get(USER_COLUMN_COUNT + 2)?)?,
        })
    })
    .transpose()
}
