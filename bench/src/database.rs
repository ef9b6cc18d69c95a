//! The benchmark's own database: a fresh SQLite file in the run's directory, or a fresh
//! database on the PostgreSQL server a URL names (created through that URL, dropped at
//! the end), so a run never measures or changes someone else's data.

use anyhow::{Context as _, Result, bail};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::path::Path;

/// A database made for one run.
#[derive(Debug)]
pub enum Database {
    /// An SQLite file; the run's directory goes with it.
    Sqlite {
        /// `sqlite:<path>`.
        url: String,
    },
    /// A database on a PostgreSQL server.
    Postgres {
        /// The URL the run was given, through which the database is created and dropped.
        admin_url: String,
        /// The database's name.
        name: String,
        /// Its URL.
        url: String,
    },
}

impl Database {
    /// A fresh SQLite file in `dir`.
    pub fn sqlite(dir: &Path) -> Self {
        Self::Sqlite {
            url: format!("sqlite:{}", dir.join("bench.db").display()),
        }
    }

    /// Creates database `name` on the server `admin_url` connects to.
    pub async fn postgres(admin_url: &str, name: &str) -> Result<Self> {
        let mut admin = PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("connecting to {admin_url}"))?;
        // `name` is the benchmark's own, made of the seed's hex tag.
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .with_context(|| format!("creating database {name}"))?;
        admin.close().await?;
        Ok(Self::Postgres {
            admin_url: admin_url.to_owned(),
            name: name.to_owned(),
            url: with_database(admin_url, name)?,
        })
    }

    /// The URL the server and the loader use.
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url } | Self::Postgres { url, .. } => url,
        }
    }

    /// Drops a PostgreSQL database (the SQLite file goes with the run's directory).
    pub async fn remove(self) -> Result<()> {
        if let Self::Postgres {
            admin_url, name, ..
        } = self
        {
            let mut admin = PgConnection::connect(&admin_url).await?;
            let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            sqlx::query(AssertSqlSafe(drop))
                .execute(&mut admin)
                .await
                .with_context(|| format!("dropping database {name}"))?;
            admin.close().await?;
        }
        Ok(())
    }
}

/// `url` with its database name replaced by `name`, query parameters kept.
pub fn with_database(url: &str, name: &str) -> Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let Some((_, rest)) = base.split_once("://") else {
        bail!("{url:?} is not a postgres:// URL");
    };
    let authority_end = base.len() - rest.len() + rest.find('/').unwrap_or(rest.len());
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "b").unwrap(),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "b").unwrap(),
            "postgres://u:p@h/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://h:5432", "b").unwrap(),
            "postgresql://h:5432/b"
        );
        assert!(with_database("sqlite:x.db", "b").is_err());
    }
}
