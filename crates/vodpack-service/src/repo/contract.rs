//! The [`Repository`] contract as one test suite over the trait, for every backend.
//!
//! Each rule is an async function that gets a fresh, empty repository and checks one promise of
//! the trait (see [`crate::repo`] and the method docs): ids unique per resource type with one
//! winner among concurrent creates, quotas atomic with the insert, the delete rules, lists in
//! creation order with pagination anchors that stay valid while the list changes, tag limits,
//! the ingest queue (claim order, requeue of interrupted and due ingests, results that land only
//! on the incarnation they were for, restarts) and index storage. [`run`] runs them all against
//! a backend given as a factory of fresh repositories; a backend's own test calls it, as the
//! SQLite one below does (a PostgreSQL backend adds the same three lines beside it). What only
//! one backend can show (its tables, its files) stays in that backend's own tests.

use std::collections::BTreeSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::*;
use crate::model::{HlsManifest, HlsPackage};

type Rule = fn(Arc<dyn Repository>) -> BoxFuture<'static, ()>;

macro_rules! rules {
    ($($name:ident),* $(,)?) => {
        fn rules() -> Vec<(&'static str, Rule)> {
            vec![$((stringify!($name), |r| Box::pin($name(r)) as BoxFuture<'static, ()>)),*]
        }
    };
}

rules!(
    created_resources_read_back_unchanged,
    ids_are_unique_per_resource_type,
    concurrent_creates_of_one_id_have_one_winner,
    resources_of_a_missing_group_are_refused,
    quotas_are_enforced_and_freed_by_deletes,
    quotas_hold_under_concurrent_creates,
    group_settings_are_replaced,
    delete_rules,
    lists_are_in_creation_order_and_paginate,
    list_anchors_stay_valid_while_the_list_changes,
    creation_numbers_are_never_reused,
    lists_filter_by_group,
    tags_merge_overwrite_and_remove,
    tag_limit_is_enforced,
    tag_changes_are_atomic,
    claims_follow_creation_order,
    concurrent_claims_take_each_asset_once,
    interrupted_ingests_are_queued_again,
    finish_ingest_records_the_outcome,
    finish_ingest_lands_only_on_its_incarnation,
    transient_failures_are_retried_when_due,
    restart_ingest_starts_a_new_incarnation,
    stored_indexes_round_trip,
    keys_first_writer_wins,
    keys_go_with_their_asset_or_configuration,
);

/// Runs every rule of the contract, each against a fresh repository from `make`, and fails
/// naming every rule `backend` broke.
pub(crate) async fn run<F, Fut>(backend: &str, make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Repository>>,
{
    let mut broken = Vec::new();
    for (name, rule) in rules() {
        let repo = make().await;
        // A panicking rule is reported (the hook prints its message) and the others still run.
        if AssertUnwindSafe(rule(repo)).catch_unwind().await.is_err() {
            broken.push(name);
        }
    }
    assert!(
        broken.is_empty(),
        "{backend} breaks the Repository contract: {broken:?}"
    );
}

const T0: &str = "2026-01-01T00:00:00Z";

fn group(id: &str) -> GroupRecord {
    GroupRecord {
        id: id.into(),
        created_at: T0.into(),
        authorization: None,
        egress_access_logs: None,
        tags: Tags::new(),
    }
}

fn config(id: &str, group_id: &str) -> ConfigRecord {
    ConfigRecord {
        id: id.into(),
        packaging_group_id: group_id.into(),
        created_at: T0.into(),
        package: Package::HlsPackage(HlsPackage {
            segment_duration_seconds: Some(4),
            hls_manifests: Some(vec![HlsManifest {
                manifest_name: Some("main".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        egress_id: egress_id(),
        tags: Tags::new(),
    }
}

fn asset(id: &str, group_id: &str) -> AssetRecord {
    AssetRecord {
        id: id.into(),
        packaging_group_id: group_id.into(),
        created_at: T0.into(),
        source_arn: format!("arn:aws:s3:::bucket/{id}.mp4"),
        source_role_arn: "arn:aws:iam::111122223333:role/r".into(),
        resource_id: None,
        egress_id: egress_id(),
        status: AssetStatus::Queued,
        ingest_error: None,
        tags: Tags::new(),
        incarnation: 1,
        incarnated_at: None,
        ingest_attempts: 0,
    }
}

fn egress_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const ROOMY: Quotas = Quotas {
    packaging_groups: 1000,
    configurations_per_group: 1000,
    assets_per_group: 1000,
};

async fn with_group(repo: &dyn Repository, id: &str) {
    repo.create_group(&group(id), ROOMY).await.unwrap();
}

async fn status(repo: &dyn Repository, id: &str) -> AssetStatus {
    repo.get_asset(id).await.unwrap().unwrap().status
}

fn ids<T>(page: &Page<T>, id: fn(&T) -> &str) -> Vec<String> {
    page.items.iter().map(|(_, t)| id(t).to_string()).collect()
}

async fn created_resources_read_back_unchanged(repo: Arc<dyn Repository>) {
    let g = GroupRecord {
        authorization: Some(Authorization {
            cdn_identifier_secret: Some(
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:cdn".into(),
            ),
            secrets_role_arn: Some("arn:aws:iam::111122223333:role/secrets".into()),
        }),
        egress_access_logs: Some(EgressAccessLogs {
            log_group_name: Some("/aws/MediaPackage/g".into()),
        }),
        tags: tags(&[("team", "video"), ("é", "ü ✓")]),
        ..group("g")
    };
    repo.create_group(&g, ROOMY).await.unwrap();
    assert_eq!(repo.get_group("g").await.unwrap(), Some(g));

    let c = ConfigRecord {
        tags: tags(&[("k", "v")]),
        ..config("c", "g")
    };
    repo.create_config(&c, ROOMY).await.unwrap();
    assert_eq!(repo.get_config("c").await.unwrap(), Some(c.clone()));
    assert_eq!(
        repo.get_config_by_egress_id(&c.egress_id).await.unwrap(),
        Some(c)
    );

    let a = AssetRecord {
        resource_id: Some("res-1".into()),
        tags: tags(&[("k", "v")]),
        ..asset("a", "g")
    };
    repo.create_asset(&a, ROOMY).await.unwrap();
    assert_eq!(repo.get_asset("a").await.unwrap(), Some(a.clone()));
    assert_eq!(
        repo.get_asset_by_egress_id(&a.egress_id).await.unwrap(),
        Some(a)
    );

    assert_eq!(repo.get_group("nope").await.unwrap(), None);
    assert_eq!(repo.get_config("nope").await.unwrap(), None);
    assert_eq!(repo.get_asset("nope").await.unwrap(), None);
    assert_eq!(
        repo.get_config_by_egress_id(&egress_id()).await.unwrap(),
        None
    );
    assert_eq!(
        repo.get_asset_by_egress_id(&egress_id()).await.unwrap(),
        None
    );
}

async fn ids_are_unique_per_resource_type(repo: Arc<dyn Repository>) {
    with_group(&*repo, "x").await;
    let e = repo.create_group(&group("x"), ROOMY).await.unwrap_err();
    assert!(
        matches!(&e, RepoError::AlreadyExists { kind: ResourceKind::PackagingGroup, id } if id == "x"),
        "{e:?}"
    );
    // One id may name a group, a configuration and an asset at once.
    repo.create_config(&config("x", "x"), ROOMY).await.unwrap();
    repo.create_asset(&asset("x", "x"), ROOMY).await.unwrap();
    // A second configuration or asset of that id fails, even in another group.
    with_group(&*repo, "y").await;
    let e = repo
        .create_config(&config("x", "y"), ROOMY)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RepoError::AlreadyExists { kind: ResourceKind::PackagingConfiguration, id } if id == "x"),
        "{e:?}"
    );
    let e = repo
        .create_asset(&asset("x", "y"), ROOMY)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RepoError::AlreadyExists { kind: ResourceKind::Asset, id } if id == "x"),
        "{e:?}"
    );
    // The failed creates left nothing behind.
    assert_eq!(repo.count_assets("y").await.unwrap(), 0);
    assert!(repo.configs_of_group("y").await.unwrap().is_empty());
    assert_eq!(
        repo.get_config("x")
            .await
            .unwrap()
            .unwrap()
            .packaging_group_id,
        "x"
    );
    // A deleted id can be used again.
    repo.delete_asset("x").await.unwrap();
    repo.create_asset(&asset("x", "y"), ROOMY).await.unwrap();
    assert_eq!(
        repo.get_asset("x")
            .await
            .unwrap()
            .unwrap()
            .packaging_group_id,
        "y"
    );
}

/// Runs `n` copies of `create` at once; returns how many succeeded and the errors of the others.
async fn race<F, Fut>(n: usize, create: F) -> (usize, Vec<RepoError>)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = RepoResult<()>> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let fut = create(i);
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut won = 0;
    let mut errors = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => won += 1,
            Err(e) => errors.push(e),
        }
    }
    (won, errors)
}

async fn concurrent_creates_of_one_id_have_one_winner(repo: Arc<dyn Repository>) {
    let n = 8;
    let r = repo.clone();
    let (won, errors) = race(n, move |i| {
        let r = r.clone();
        async move {
            let g = GroupRecord {
                tags: tags(&[("writer", &i.to_string())]),
                ..group("g")
            };
            r.create_group(&g, ROOMY).await
        }
    })
    .await;
    assert_eq!(won, 1, "{errors:?}");
    assert!(
        errors.iter().all(|e| matches!(
            e,
            RepoError::AlreadyExists {
                kind: ResourceKind::PackagingGroup,
                ..
            }
        )),
        "{errors:?}"
    );
    assert_eq!(repo.list_groups(0, 100).await.unwrap().items.len(), 1);

    let r = repo.clone();
    let (won, errors) = race(n, move |_| {
        let r = r.clone();
        async move { r.create_config(&config("c", "g"), ROOMY).await }
    })
    .await;
    assert_eq!(won, 1, "{errors:?}");
    assert!(
        errors.iter().all(|e| matches!(
            e,
            RepoError::AlreadyExists {
                kind: ResourceKind::PackagingConfiguration,
                ..
            }
        )),
        "{errors:?}"
    );
    assert_eq!(repo.configs_of_group("g").await.unwrap().len(), 1);

    let r = repo.clone();
    let (won, errors) = race(n, move |_| {
        let r = r.clone();
        async move { r.create_asset(&asset("a", "g"), ROOMY).await }
    })
    .await;
    assert_eq!(won, 1, "{errors:?}");
    assert!(
        errors.iter().all(|e| matches!(
            e,
            RepoError::AlreadyExists {
                kind: ResourceKind::Asset,
                ..
            }
        )),
        "{errors:?}"
    );
    assert_eq!(repo.count_assets("g").await.unwrap(), 1);

    // Creates of different ids at once all succeed.
    let r = repo.clone();
    let (won, errors) = race(n, move |i| {
        let r = r.clone();
        async move { r.create_asset(&asset(&format!("b{i}"), "g"), ROOMY).await }
    })
    .await;
    assert_eq!(won, n, "{errors:?}");
    assert_eq!(repo.count_assets("g").await.unwrap(), n as u64 + 1);
}

async fn resources_of_a_missing_group_are_refused(repo: Arc<dyn Repository>) {
    let e = repo
        .create_config(&config("c", "ghost"), ROOMY)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RepoError::GroupNotFound(g) if g == "ghost"),
        "{e:?}"
    );
    let e = repo
        .create_asset(&asset("a", "ghost"), ROOMY)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RepoError::GroupNotFound(g) if g == "ghost"),
        "{e:?}"
    );
    assert_eq!(repo.get_config("c").await.unwrap(), None);
    assert_eq!(repo.get_asset("a").await.unwrap(), None);
    // A group deleted meanwhile is missing too.
    with_group(&*repo, "gone").await;
    repo.delete_group("gone").await.unwrap();
    let e = repo
        .create_asset(&asset("a", "gone"), ROOMY)
        .await
        .unwrap_err();
    assert!(matches!(&e, RepoError::GroupNotFound(_)), "{e:?}");
}

async fn quotas_are_enforced_and_freed_by_deletes(repo: Arc<dyn Repository>) {
    let q = Quotas {
        packaging_groups: 2,
        configurations_per_group: 2,
        assets_per_group: 3,
    };
    repo.create_group(&group("g1"), q).await.unwrap();
    repo.create_group(&group("g2"), q).await.unwrap();
    let e = repo.create_group(&group("g3"), q).await.unwrap_err();
    assert!(
        matches!(e, RepoError::QuotaExceeded { limit: 2, .. }),
        "{e:?}"
    );
    assert_eq!(repo.get_group("g3").await.unwrap(), None);

    for c in ["c1", "c2"] {
        repo.create_config(&config(c, "g1"), q).await.unwrap();
    }
    let e = repo
        .create_config(&config("c3", "g1"), q)
        .await
        .unwrap_err();
    assert!(
        matches!(e, RepoError::QuotaExceeded { limit: 2, .. }),
        "{e:?}"
    );
    for a in ["a1", "a2", "a3"] {
        repo.create_asset(&asset(a, "g1"), q).await.unwrap();
    }
    let e = repo.create_asset(&asset("a4", "g1"), q).await.unwrap_err();
    assert!(
        matches!(e, RepoError::QuotaExceeded { limit: 3, .. }),
        "{e:?}"
    );
    assert_eq!(repo.get_asset("a4").await.unwrap(), None);

    // Per-group quotas count that group only.
    repo.create_config(&config("c3", "g2"), q).await.unwrap();
    repo.create_asset(&asset("a4", "g2"), q).await.unwrap();
    // The quota is the caller's: a larger one admits more.
    repo.create_asset(&asset("a5", "g1"), ROOMY).await.unwrap();

    // Deleting frees room.
    repo.delete_config("c1").await.unwrap();
    repo.create_config(&config("c4", "g1"), q).await.unwrap();
    repo.delete_config("c3").await.unwrap();
    repo.delete_asset("a4").await.unwrap();
    repo.delete_group("g2").await.unwrap();
    repo.create_group(&group("g3"), q).await.unwrap();
}

async fn quotas_hold_under_concurrent_creates(repo: Arc<dyn Repository>) {
    let q = Quotas {
        packaging_groups: 3,
        configurations_per_group: 2,
        assets_per_group: 4,
    };
    let n = 10;
    let r = repo.clone();
    let (won, errors) = race(n, move |i| {
        let r = r.clone();
        async move { r.create_group(&group(&format!("g{i}")), q).await }
    })
    .await;
    assert_eq!(won, 3, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| matches!(e, RepoError::QuotaExceeded { limit: 3, .. })),
        "{errors:?}"
    );
    assert_eq!(repo.list_groups(0, 100).await.unwrap().items.len(), 3);
    let g = repo.list_groups(0, 1).await.unwrap().items[0].1.id.clone();

    let r = repo.clone();
    let gid = g.clone();
    let (won, errors) = race(n, move |i| {
        let (r, gid) = (r.clone(), gid.clone());
        async move { r.create_config(&config(&format!("c{i}"), &gid), q).await }
    })
    .await;
    assert_eq!(won, 2, "{errors:?}");
    assert_eq!(repo.configs_of_group(&g).await.unwrap().len(), 2);

    let r = repo.clone();
    let gid = g.clone();
    let (won, errors) = race(n, move |i| {
        let (r, gid) = (r.clone(), gid.clone());
        async move { r.create_asset(&asset(&format!("a{i}"), &gid), q).await }
    })
    .await;
    assert_eq!(won, 4, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| matches!(e, RepoError::QuotaExceeded { limit: 4, .. })),
        "{errors:?}"
    );
    assert_eq!(repo.count_assets(&g).await.unwrap(), 4);
}

async fn group_settings_are_replaced(repo: Arc<dyn Repository>) {
    with_group(&*repo, "g").await;
    let auth = Authorization {
        cdn_identifier_secret: Some("arn:aws:secretsmanager:us-east-1:1:secret:s".into()),
        secrets_role_arn: Some("arn:aws:iam::1:role/r".into()),
    };
    let g = repo
        .set_group_authorization("g", Some(auth.clone()))
        .await
        .unwrap();
    assert_eq!(g.authorization, Some(auth.clone()));
    assert_eq!(repo.get_group("g").await.unwrap(), Some(g));

    let logs = EgressAccessLogs {
        log_group_name: Some("/aws/MediaPackage/EgressAccessLogs".into()),
    };
    let g = repo.set_group_logs("g", Some(logs.clone())).await.unwrap();
    // Each setting is replaced alone.
    assert_eq!(g.authorization, Some(auth));
    assert_eq!(g.egress_access_logs, Some(logs.clone()));
    assert_eq!(repo.get_group("g").await.unwrap(), Some(g));

    let g = repo.set_group_authorization("g", None).await.unwrap();
    assert_eq!(g.authorization, None);
    assert_eq!(g.egress_access_logs, Some(logs));
    let g = repo.set_group_logs("g", None).await.unwrap();
    assert_eq!(g.egress_access_logs, None);
    assert_eq!(repo.get_group("g").await.unwrap(), Some(group("g")));

    for e in [
        repo.set_group_authorization("ghost", None)
            .await
            .unwrap_err(),
        repo.set_group_logs("ghost", None).await.unwrap_err(),
    ] {
        assert!(
            matches!(&e, RepoError::NotFound { kind: ResourceKind::PackagingGroup, id } if id == "ghost"),
            "{e:?}"
        );
    }
}

async fn delete_rules(repo: Arc<dyn Repository>) {
    with_group(&*repo, "g").await;
    repo.create_config(&config("c1", "g"), ROOMY).await.unwrap();
    repo.create_config(&config("c2", "g"), ROOMY).await.unwrap();
    repo.create_asset(&asset("a", "g"), ROOMY).await.unwrap();
    let e = repo.delete_group("g").await.unwrap_err();
    assert!(
        matches!(&e, RepoError::GroupNotEmpty { id, configurations: 2, assets: 1 } if id == "g"),
        "{e:?}"
    );
    assert!(repo.get_group("g").await.unwrap().is_some());

    repo.delete_config("c1").await.unwrap();
    repo.delete_config("c2").await.unwrap();
    let e = repo.delete_group("g").await.unwrap_err();
    assert!(
        matches!(
            e,
            RepoError::GroupNotEmpty {
                configurations: 0,
                assets: 1,
                ..
            }
        ),
        "{e:?}"
    );
    repo.delete_asset("a").await.unwrap();
    assert_eq!(repo.get_asset("a").await.unwrap(), None);
    assert_eq!(repo.count_assets("g").await.unwrap(), 0);
    repo.delete_group("g").await.unwrap();
    assert_eq!(repo.get_group("g").await.unwrap(), None);

    let e = repo.delete_group("g").await.unwrap_err();
    assert!(
        matches!(&e, RepoError::NotFound { kind: ResourceKind::PackagingGroup, id } if id == "g"),
        "{e:?}"
    );
    let e = repo.delete_config("c1").await.unwrap_err();
    assert!(
        matches!(&e, RepoError::NotFound { kind: ResourceKind::PackagingConfiguration, id } if id == "c1"),
        "{e:?}"
    );
    let e = repo.delete_asset("a").await.unwrap_err();
    assert!(
        matches!(&e, RepoError::NotFound { kind: ResourceKind::Asset, id } if id == "a"),
        "{e:?}"
    );
    assert_eq!(repo.count_assets("g").await.unwrap(), 0);
}

async fn lists_are_in_creation_order_and_paginate(repo: Arc<dyn Repository>) {
    // Ids out of alphabetical order: lists follow creation, not ids.
    let order = ["e", "a", "d", "b", "c"];
    for id in order {
        with_group(&*repo, id).await;
    }
    let all = repo.list_groups(0, 100).await.unwrap();
    assert_eq!(ids(&all, |g| &g.id), order);
    assert!(!all.more);
    assert!(
        all.items.windows(2).all(|w| w[0].0 < w[1].0),
        "creation numbers increase: {:?}",
        all.items.iter().map(|(s, _)| s).collect::<Vec<_>>()
    );

    // Pages of two: `more` says whether anything follows, and a page's last number anchors
    // the next page.
    let mut after = 0;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = repo.list_groups(after, 2).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 2);
        seen.extend(ids(&page, |g| &g.id));
        if !page.more {
            break;
        }
        after = page.items.last().unwrap().0;
    }
    assert_eq!(seen, order);
    assert_eq!(pages, 3);
    // A page that ends exactly at the last item says nothing follows.
    let page = repo.list_groups(0, 5).await.unwrap();
    assert_eq!(page.items.len(), 5);
    assert!(!page.more);
    let page = repo.list_groups(0, 4).await.unwrap();
    assert!(page.more);
    // Past the end: empty.
    let last = all.items.last().unwrap().0;
    let page = repo.list_groups(last, 10).await.unwrap();
    assert!(page.items.is_empty() && !page.more);

    // Configurations and assets likewise, and `configs_of_group` in creation order.
    for id in order {
        repo.create_config(&config(id, "a"), ROOMY).await.unwrap();
        repo.create_asset(&asset(id, "a"), ROOMY).await.unwrap();
    }
    let p = repo.list_configs(None, 0, 3).await.unwrap();
    assert_eq!(ids(&p, |c| &c.id), ["e", "a", "d"]);
    assert!(p.more);
    let p = repo
        .list_configs(None, p.items.last().unwrap().0, 3)
        .await
        .unwrap();
    assert_eq!(ids(&p, |c| &c.id), ["b", "c"]);
    assert!(!p.more);
    let cs: Vec<String> = repo
        .configs_of_group("a")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(cs, order);
    let p = repo.list_assets(None, 0, 3).await.unwrap();
    assert_eq!(ids(&p, |a| &a.id), ["e", "a", "d"]);
    assert!(p.more);
    let p = repo
        .list_assets(None, p.items.last().unwrap().0, 3)
        .await
        .unwrap();
    assert_eq!(ids(&p, |a| &a.id), ["b", "c"]);
    assert!(!p.more);
}

async fn list_anchors_stay_valid_while_the_list_changes(repo: Arc<dyn Repository>) {
    with_group(&*repo, "g").await;
    for id in ["a1", "a2", "a3", "a4", "a5"] {
        repo.create_asset(&asset(id, "g"), ROOMY).await.unwrap();
    }
    let first = repo.list_assets(Some("g"), 0, 2).await.unwrap();
    assert_eq!(ids(&first, |a| &a.id), ["a1", "a2"]);
    let anchor = first.items.last().unwrap().0;
    // Meanwhile: the anchor item itself and an item before it are deleted, one after it too,
    // and new items arrive.
    repo.delete_asset("a2").await.unwrap();
    repo.delete_asset("a1").await.unwrap();
    repo.delete_asset("a4").await.unwrap();
    repo.create_asset(&asset("a6", "g"), ROOMY).await.unwrap();
    repo.create_asset(&asset("a0", "g"), ROOMY).await.unwrap();
    // The next page goes on after the anchor: nothing seen twice, nothing still there skipped,
    // newcomers at the end.
    let next = repo.list_assets(Some("g"), anchor, 100).await.unwrap();
    assert_eq!(ids(&next, |a| &a.id), ["a3", "a5", "a6", "a0"]);
    assert!(!next.more);
    // A re-created id is a new item: it comes after the anchor again.
    repo.create_asset(&asset("a1", "g"), ROOMY).await.unwrap();
    let next = repo.list_assets(Some("g"), anchor, 100).await.unwrap();
    assert_eq!(ids(&next, |a| &a.id), ["a3", "a5", "a6", "a0", "a1"]);
}

async fn creation_numbers_are_never_reused(repo: Arc<dyn Repository>) {
    with_group(&*repo, "g1").await;
    with_group(&*repo, "g2").await;
    let before = repo.list_groups(0, 100).await.unwrap();
    let last = before.items.last().unwrap().0;
    // Delete the newest item, so a counter taken from the largest live number would hand its
    // number out again.
    repo.delete_group("g2").await.unwrap();
    with_group(&*repo, "g3").await;
    let after = repo.list_groups(0, 100).await.unwrap();
    assert_eq!(ids(&after, |g| &g.id), ["g1", "g3"]);
    assert!(after.items[1].0 > last, "{:?} reused", after.items[1].0);
    // Configurations and assets too.
    repo.create_config(&config("c1", "g1"), ROOMY)
        .await
        .unwrap();
    let c_last = repo.list_configs(None, 0, 100).await.unwrap().items[0].0;
    repo.delete_config("c1").await.unwrap();
    repo.create_config(&config("c2", "g1"), ROOMY)
        .await
        .unwrap();
    assert!(repo.list_configs(None, 0, 100).await.unwrap().items[0].0 > c_last);
    repo.create_asset(&asset("a1", "g1"), ROOMY).await.unwrap();
    let a_last = repo.list_assets(None, 0, 100).await.unwrap().items[0].0;
    repo.delete_asset("a1").await.unwrap();
    repo.create_asset(&asset("a1", "g1"), ROOMY).await.unwrap();
    assert!(repo.list_assets(None, 0, 100).await.unwrap().items[0].0 > a_last);
}

async fn lists_filter_by_group(repo: Arc<dyn Repository>) {
    with_group(&*repo, "g1").await;
    with_group(&*repo, "g2").await;
    for (id, g) in [
        ("x1", "g1"),
        ("y1", "g2"),
        ("x2", "g1"),
        ("y2", "g2"),
        ("x3", "g1"),
    ] {
        repo.create_config(&config(id, g), ROOMY).await.unwrap();
        repo.create_asset(&asset(id, g), ROOMY).await.unwrap();
    }
    let p = repo.list_configs(Some("g1"), 0, 2).await.unwrap();
    assert_eq!(ids(&p, |c| &c.id), ["x1", "x2"]);
    assert!(p.more);
    let p = repo
        .list_configs(Some("g1"), p.items.last().unwrap().0, 2)
        .await
        .unwrap();
    assert_eq!(ids(&p, |c| &c.id), ["x3"]);
    assert!(!p.more);
    let p = repo.list_assets(Some("g2"), 0, 2).await.unwrap();
    assert_eq!(ids(&p, |a| &a.id), ["y1", "y2"]);
    assert!(!p.more);
    let p = repo.list_assets(Some("g1"), 0, 100).await.unwrap();
    assert_eq!(ids(&p, |a| &a.id), ["x1", "x2", "x3"]);
    assert_eq!(
        ids(&repo.list_assets(None, 0, 100).await.unwrap(), |a| &a.id),
        ["x1", "y1", "x2", "y2", "x3"]
    );
    let p = repo.list_configs(Some("ghost"), 0, 100).await.unwrap();
    assert!(p.items.is_empty() && !p.more);
    assert_eq!(repo.count_assets("g1").await.unwrap(), 3);
    assert_eq!(repo.count_assets("g2").await.unwrap(), 2);
    assert_eq!(repo.count_assets("ghost").await.unwrap(), 0);
    let cs: Vec<String> = repo
        .configs_of_group("g2")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(cs, ["y1", "y2"]);
}

const KINDS: [ResourceKind; 3] = [
    ResourceKind::PackagingGroup,
    ResourceKind::PackagingConfiguration,
    ResourceKind::Asset,
];

/// A group, configuration and asset all named `id`, created with `initial` tags.
async fn one_of_each(repo: &dyn Repository, id: &str, initial: &Tags) {
    repo.create_group(
        &GroupRecord {
            tags: initial.clone(),
            ..group(id)
        },
        ROOMY,
    )
    .await
    .unwrap();
    repo.create_config(
        &ConfigRecord {
            tags: initial.clone(),
            ..config(id, id)
        },
        ROOMY,
    )
    .await
    .unwrap();
    repo.create_asset(
        &AssetRecord {
            tags: initial.clone(),
            ..asset(id, id)
        },
        ROOMY,
    )
    .await
    .unwrap();
}

async fn record_tags(repo: &dyn Repository, kind: ResourceKind, id: &str) -> Tags {
    match kind {
        ResourceKind::PackagingGroup => repo.get_group(id).await.unwrap().unwrap().tags,
        ResourceKind::PackagingConfiguration => repo.get_config(id).await.unwrap().unwrap().tags,
        ResourceKind::Asset => repo.get_asset(id).await.unwrap().unwrap().tags,
    }
}

async fn tags_merge_overwrite_and_remove(repo: Arc<dyn Repository>) {
    one_of_each(&*repo, "r", &tags(&[("a", "1"), ("b", "2")])).await;
    for kind in KINDS {
        assert_eq!(
            repo.get_tags(kind, "r").await.unwrap(),
            Some(tags(&[("a", "1"), ("b", "2")])),
            "{kind:?}"
        );
        repo.add_tags(kind, "r", &tags(&[("b", "two"), ("c", "3")]), 50)
            .await
            .unwrap();
        let want = tags(&[("a", "1"), ("b", "two"), ("c", "3")]);
        assert_eq!(repo.get_tags(kind, "r").await.unwrap(), Some(want.clone()));
        // The records carry the same tags.
        assert_eq!(record_tags(&*repo, kind, "r").await, want, "{kind:?}");
        // Absent keys are ignored.
        repo.remove_tags(kind, "r", &["a".into(), "zz".into()])
            .await
            .unwrap();
        assert_eq!(
            repo.get_tags(kind, "r").await.unwrap(),
            Some(tags(&[("b", "two"), ("c", "3")]))
        );
        repo.remove_tags(kind, "r", &["b".into(), "c".into()])
            .await
            .unwrap();
        assert_eq!(repo.get_tags(kind, "r").await.unwrap(), Some(Tags::new()));

        assert_eq!(repo.get_tags(kind, "ghost").await.unwrap(), None);
        for e in [
            repo.add_tags(kind, "ghost", &tags(&[("a", "1")]), 50)
                .await
                .unwrap_err(),
            repo.remove_tags(kind, "ghost", &["a".into()])
                .await
                .unwrap_err(),
        ] {
            assert!(
                matches!(&e, RepoError::NotFound { kind: k, id } if *k == kind && id == "ghost"),
                "{e:?}"
            );
        }
    }
    // Tags of one resource type are not another's: the three share an id.
    repo.add_tags(ResourceKind::Asset, "r", &tags(&[("only", "asset")]), 50)
        .await
        .unwrap();
    assert_eq!(
        repo.get_tags(ResourceKind::PackagingGroup, "r")
            .await
            .unwrap(),
        Some(Tags::new())
    );
}

async fn tag_limit_is_enforced(repo: Arc<dyn Repository>) {
    let three = tags(&[("a", "1"), ("b", "2"), ("c", "3")]);
    one_of_each(&*repo, "r", &three).await;
    for kind in KINDS {
        // Overwriting keys it has does not count against the limit.
        repo.add_tags(kind, "r", &tags(&[("a", "x"), ("b", "y")]), 3)
            .await
            .unwrap();
        let have = tags(&[("a", "x"), ("b", "y"), ("c", "3")]);
        let e = repo
            .add_tags(kind, "r", &tags(&[("a", "z"), ("d", "4"), ("e", "5")]), 4)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                RepoError::TooManyTags {
                    limit: 4,
                    would_have: 5
                }
            ),
            "{kind:?}: {e:?}"
        );
        // A refused change changes nothing.
        assert_eq!(repo.get_tags(kind, "r").await.unwrap(), Some(have));
        // Exactly at the limit is fine.
        repo.add_tags(kind, "r", &tags(&[("d", "4")]), 4)
            .await
            .unwrap();
        assert_eq!(repo.get_tags(kind, "r").await.unwrap().unwrap().len(), 4);
    }
}

async fn tag_changes_are_atomic(repo: Arc<dyn Repository>) {
    one_of_each(&*repo, "r", &Tags::new()).await;
    let n = 10;
    // Concurrent additions of different keys: none is lost.
    let r = repo.clone();
    let (won, errors) = race(n, move |i| {
        let r = r.clone();
        async move {
            r.add_tags(
                ResourceKind::Asset,
                "r",
                &tags(&[(&format!("k{i}"), "v")]),
                50,
            )
            .await
        }
    })
    .await;
    assert_eq!(won, n, "{errors:?}");
    assert_eq!(
        repo.get_tags(ResourceKind::Asset, "r")
            .await
            .unwrap()
            .unwrap()
            .len(),
        n
    );
    // Concurrent additions against a limit: it is never exceeded.
    let r = repo.clone();
    let (won, errors) = race(n, move |i| {
        let r = r.clone();
        async move {
            r.add_tags(
                ResourceKind::PackagingGroup,
                "r",
                &tags(&[(&format!("k{i}"), "v")]),
                4,
            )
            .await
        }
    })
    .await;
    assert_eq!(won, 4, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| matches!(e, RepoError::TooManyTags { limit: 4, .. })),
        "{errors:?}"
    );
    assert_eq!(
        repo.get_tags(ResourceKind::PackagingGroup, "r")
            .await
            .unwrap()
            .unwrap()
            .len(),
        4
    );
}

async fn claims_follow_creation_order(repo: Arc<dyn Repository>) {
    with_group(&*repo, "g").await;
    assert!(repo.claim_next_queued().await.unwrap().is_none());
    // Assets that are not QUEUED are not claimed: one PLAYABLE, one FAILED.
    for (id, outcome) in [
        (
            "p",
            IngestOutcome::Playable {
                index: b"i",
                format_version: 1,
            },
        ),
        ("f", IngestOutcome::Failed { reason: "bad" }),
    ] {
        repo.create_asset(&asset(id, "g"), ROOMY).await.unwrap();
        let a = repo.claim_next_queued().await.unwrap().unwrap();
        assert_eq!(a.id, id);
        assert!(repo.finish_ingest(id, &a.egress_id, outcome).await.unwrap());
    }
    for id in ["q3", "q1", "q2"] {
        repo.create_asset(&asset(id, "g"), ROOMY).await.unwrap();
    }
    let mut claimed = Vec::new();
    while let Some(a) = repo.claim_next_queued().await.unwrap() {
        assert_eq!(a.status, AssetStatus::Processing);
        assert_eq!(status(&*repo, &a.id).await, AssetStatus::Processing);
        claimed.push(a.id);
    }
    assert_eq!(claimed, ["q3", "q1", "q2"]);
    assert_eq!(status(&*repo, "p").await, AssetStatus::Playable);
    assert_eq!(status(&*repo, "f").await, AssetStatus::Failed);
    // A claim returns the asset as it is now.
    repo.create_asset(&asset("q4", "g"), ROOMY).await.unwrap();
    let want = AssetRecord {
        status: AssetStatus::Processing,
        ..repo.get_asset("q4").await.unwrap().unwrap()
    };
    assert_eq!(repo.claim_next_queued().await.unwrap(), Some(want));
}

async fn concurrent_claims_take_each_asset_once(repo: Arc<dyn Repository>) {
    with_group(&*repo, "g").await;
    let n = 12;
    for i in 0..n {
        repo.create_asset(&asset(&format!("a{i:02}"), "g"), ROOMY)
            .await
            .unwrap();
    }
    let workers = 6;
    let barrier = Arc::new(tokio::sync::Barrier::new(workers));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (repo, barrier) = (repo.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let mut mine = Vec::new();
                while let Some(a) = repo.claim_next_queued().await.unwrap() {
                    mine.push(a.id);
                }
                mine
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(all.len(), n, "claimed {all:?}");
    assert_eq!(distinct.len(), n, "claimed twice: {all:?}");
}

async fn interrupted_ingests_are_queued_again(repo: Arc<dyn Repository>) {
    with_group(&*repo, "g").await;
    for id in ["a", "b", "c"] {
        repo.create_asset(&asset(id, "g"), ROOMY).await.unwrap();
    }
    let a = repo.claim_next_queued().await.unwrap().unwrap();
    let b = repo.claim_next_queued().await.unwrap().unwrap();
    let ok = IngestOutcome::Playable {
        index: b"idx",
        format_version: 1,
    };
    assert!(repo.finish_ingest("b", &b.egress_id, ok).await.unwrap());
    // `a` is left PROCESSING, as by a run that stopped mid-ingest.
    assert_eq!(repo.requeue_interrupted().await.unwrap(), 1);
    assert_eq!(status(&*repo, "a").await, AssetStatus::Queued);
    assert_eq!(status(&*repo, "b").await, AssetStatus::Playable);
    assert_eq!(status(&*repo, "c").await, AssetStatus::Queued);
    assert_eq!(repo.requeue_interrupted().await.unwrap(), 0);
    // Back in its place in the queue: first again.
    assert_eq!(repo.claim_next_queued().await.unwrap().unwrap().id, a.id);
}

async fn finish_ingest_records_the_outcome(repo: Arc<dyn Repository>) {
    with_group(&*repo, "g").await;
    for id in ["ok", "bad"] {
        repo.create_asset(&asset(id, "g"), ROOMY).await.unwrap();
    }
    let ok = repo.claim_next_queued().await.unwrap().unwrap();
    let bad = repo.claim_next_queued().await.unwrap().unwrap();
    let playable = IngestOutcome::Playable {
        index: b"index bytes",
        format_version: 7,
    };
    assert!(
        repo.finish_ingest("ok", &ok.egress_id, playable)
            .await
            .unwrap()
    );
    let got = repo.get_asset("ok").await.unwrap().unwrap();
    assert_eq!((got.status.as_str(), got.ingest_error), ("PLAYABLE", None));
    assert_eq!(
        repo.get_index("ok").await.unwrap(),
        Some((7, b"index bytes".to_vec()))
    );

    let failed = IngestOutcome::Failed {
        reason: "no video or audio track",
    };
    assert!(
        repo.finish_ingest("bad", &bad.egress_id, failed)
            .await
            .unwrap()
    );
    let got = repo.get_asset("bad").await.unwrap().unwrap();
    assert_eq!(got.status, AssetStatus::Failed);
    assert_eq!(got.ingest_error.as_deref(), Some("no video or audio track"));
    assert_eq!(repo.get_index("bad").await.unwrap(), None);
    // A permanent failure is never retried.
    assert_eq!(repo.requeue_due(i64::MAX).await.unwrap(), 0);

    // Only a PROCESSING asset takes a result: a second result for the same ingest is refused
    // and changes nothing.
    assert!(
        !repo
            .finish_ingest("ok", &ok.egress_id, failed)
            .await
            .unwrap()
    );
    assert_eq!(status(&*repo, "ok").await, AssetStatus::Playable);
    assert_eq!(
        repo.get_index("ok").await.unwrap(),
        Some((7, b"index bytes".to_vec()))
    );
    repo.create_asset(&asset("queued", "g"), ROOMY)
        .await
        .unwrap();
    let q = repo.get_asset("queued").await.unwrap().unwrap();
    assert!(
        !repo
            .finish_ingest("queued", &q.egress_id, playable)
            .await
            .unwrap()
    );
    assert_eq!(status(&*repo, "queued").await, AssetStatus::Queued);
    assert_eq!(repo.get_index("queued").await.unwrap(), None);
    assert!(
        !repo
            .finish_ingest("ghost", &egress_id(), playable)
            .await
            .unwrap()
    );
}

async fn finish_ingest_lands_only_on_its_incarnation(repo: Arc<dyn Repository>) {
    with_group(&*repo, "g").await;
    let first = asset("a", "g");
    repo.create_asset(&first, ROOMY).await.unwrap();
    let claimed = repo.claim_next_queued().await.unwrap().unwrap();
    assert_eq!(claimed.egress_id, first.egress_id);
    assert!(repo.claim_next_queued().await.unwrap().is_none());
    // Deleted and re-created while the first ingest ran: its result must not land.
    repo.delete_asset("a").await.unwrap();
    let second = asset("a", "g");
    repo.create_asset(&second, ROOMY).await.unwrap();
    let ok = IngestOutcome::Playable {
        index: b"x",
        format_version: 1,
    };
    assert!(!repo.finish_ingest("a", &first.egress_id, ok).await.unwrap());
    assert_eq!(status(&*repo, "a").await, AssetStatus::Queued);
    assert_eq!(repo.get_index("a").await.unwrap(), None);
    // Not even once the new asset is PROCESSING.
    repo.claim_next_queued().await.unwrap().unwrap();
    assert!(!repo.finish_ingest("a", &first.egress_id, ok).await.unwrap());
    assert_eq!(status(&*repo, "a").await, AssetStatus::Processing);
    assert_eq!(repo.get_index("a").await.unwrap(), None);
    // The new asset's own ingest lands, with its index.
    assert!(
        repo.finish_ingest("a", &second.egress_id, ok)
            .await
            .unwrap()
    );
    assert_eq!(repo.get_index("a").await.unwrap(), Some((1, b"x".to_vec())));
    // A deleted asset takes no result.
    repo.delete_asset("a").await.unwrap();
    assert!(
        !repo
            .finish_ingest("a", &second.egress_id, ok)
            .await
            .unwrap()
    );
    assert_eq!(repo.get_asset("a").await.unwrap(), None);
    assert_eq!(repo.get_index("a").await.unwrap(), None);
}

async fn transient_failures_are_retried_when_due(repo: Arc<dyn Repository>) {
    with_group(&*repo, "g").await;
    repo.create_asset(&asset("a", "g"), ROOMY).await.unwrap();
    let a = repo.claim_next_queued().await.unwrap().unwrap();
    let retry = IngestOutcome::Retry {
        reason: "the store timed out",
        retry_at: 1_000,
    };
    assert!(repo.finish_ingest("a", &a.egress_id, retry).await.unwrap());
    let got = repo.get_asset("a").await.unwrap().unwrap();
    assert_eq!(got.status, AssetStatus::Failed);
    assert_eq!(got.ingest_error.as_deref(), Some("the store timed out"));
    assert_eq!(got.ingest_attempts, 1);
    // Not before it is due.
    assert_eq!(repo.requeue_due(999).await.unwrap(), 0);
    assert_eq!(status(&*repo, "a").await, AssetStatus::Failed);
    assert!(repo.claim_next_queued().await.unwrap().is_none());
    // Due (the boundary included): queued again, once.
    assert_eq!(repo.requeue_due(1_000).await.unwrap(), 1);
    assert_eq!(status(&*repo, "a").await, AssetStatus::Queued);
    assert_eq!(repo.requeue_due(5_000).await.unwrap(), 0);
    // Attempts add up over transient failures...
    repo.claim_next_queued().await.unwrap().unwrap();
    let retry = IngestOutcome::Retry {
        reason: "again",
        retry_at: 2_000,
    };
    assert!(repo.finish_ingest("a", &a.egress_id, retry).await.unwrap());
    assert_eq!(
        repo.get_asset("a").await.unwrap().unwrap().ingest_attempts,
        2
    );
    assert_eq!(repo.requeue_due(2_500).await.unwrap(), 1);
    // ... and an ingest that ends for good resets them.
    repo.claim_next_queued().await.unwrap().unwrap();
    let ok = IngestOutcome::Playable {
        index: b"i",
        format_version: 1,
    };
    assert!(repo.finish_ingest("a", &a.egress_id, ok).await.unwrap());
    let got = repo.get_asset("a").await.unwrap().unwrap();
    assert_eq!((got.status.as_str(), got.ingest_attempts), ("PLAYABLE", 0));
    assert_eq!(got.ingest_error, None);
    assert_eq!(repo.requeue_due(i64::MAX).await.unwrap(), 0);
    // A deleted asset's pending retry is gone with it.
    repo.create_asset(&asset("b", "g"), ROOMY).await.unwrap();
    let b = repo.claim_next_queued().await.unwrap().unwrap();
    assert!(repo.finish_ingest("b", &b.egress_id, retry).await.unwrap());
    repo.delete_asset("b").await.unwrap();
    assert_eq!(repo.requeue_due(i64::MAX).await.unwrap(), 0);
}

async fn restart_ingest_starts_a_new_incarnation(repo: Arc<dyn Repository>) {
    with_group(&*repo, "g").await;
    repo.create_asset(&asset("a", "g"), ROOMY).await.unwrap();
    let created = repo.get_asset("a").await.unwrap().unwrap();
    assert_eq!(created.incarnation, 1);
    assert_eq!(created.outputs_since(), T0);
    // Not while it waits for or is in its first ingest.
    assert_eq!(repo.restart_ingest("a", 1, "t1").await.unwrap(), None);
    repo.claim_next_queued().await.unwrap().unwrap();
    assert_eq!(repo.restart_ingest("a", 1, "t1").await.unwrap(), None);
    let ok = IngestOutcome::Playable {
        index: b"old",
        format_version: 1,
    };
    assert!(
        repo.finish_ingest("a", &created.egress_id, ok)
            .await
            .unwrap()
    );

    let t1 = "2026-02-01T00:00:00Z";
    let restarted = repo.restart_ingest("a", 1, t1).await.unwrap().unwrap();
    assert_eq!(restarted.status, AssetStatus::Queued);
    assert_eq!(restarted.incarnation, 2);
    assert_eq!(restarted.incarnated_at.as_deref(), Some(t1));
    assert_eq!(restarted.outputs_since(), t1);
    assert_ne!(restarted.incarnation_key(), created.incarnation_key());
    // Identity, egress id and creation stay.
    assert_eq!(restarted.egress_id, created.egress_id);
    assert_eq!(restarted.created_at, created.created_at);
    assert_eq!(repo.get_asset("a").await.unwrap(), Some(restarted.clone()));
    // The old index is dropped.
    assert_eq!(repo.get_index("a").await.unwrap(), None);
    // Another request that saw incarnation 1 does nothing.
    assert_eq!(repo.restart_ingest("a", 1, "t9").await.unwrap(), None);
    assert_eq!(repo.get_asset("a").await.unwrap().unwrap().incarnation, 2);

    // The new incarnation is ingested like any queued asset, and its result lands.
    let claimed = repo.claim_next_queued().await.unwrap().unwrap();
    assert_eq!((claimed.id.as_str(), claimed.incarnation), ("a", 2));
    let new = IngestOutcome::Playable {
        index: b"new",
        format_version: 2,
    };
    assert!(
        repo.finish_ingest("a", &created.egress_id, new)
            .await
            .unwrap()
    );
    assert_eq!(
        repo.get_index("a").await.unwrap(),
        Some((2, b"new".to_vec()))
    );

    // A FAILED asset can be restarted too; its error, attempts and pending retry are cleared.
    repo.create_asset(&asset("f", "g"), ROOMY).await.unwrap();
    let f = repo.claim_next_queued().await.unwrap().unwrap();
    let retry = IngestOutcome::Retry {
        reason: "timeout",
        retry_at: 1_000,
    };
    assert!(repo.finish_ingest("f", &f.egress_id, retry).await.unwrap());
    let r = repo.restart_ingest("f", 1, t1).await.unwrap().unwrap();
    assert_eq!(r.status, AssetStatus::Queued);
    assert_eq!(r.incarnation, 2);
    assert_eq!(r.ingest_error, None);
    assert_eq!(r.ingest_attempts, 0);
    assert_eq!(repo.requeue_due(i64::MAX).await.unwrap(), 0);
    assert_eq!(repo.claim_next_queued().await.unwrap().unwrap().id, "f");
    assert_eq!(repo.restart_ingest("ghost", 1, t1).await.unwrap(), None);
}

fn key_set(tag: u8) -> crate::keys::StoredKeySet {
    use vodpack_media::package::keys::{ContentKey, KeySet, KeyUse};
    crate::keys::StoredKeySet::from_key_set(&KeySet {
        keys: vec![(
            KeyUse::all(),
            ContentKey {
                kid: [tag; 16],
                key: [tag ^ 0x5a; 16],
                explicit_iv: None,
            },
        )],
        systems: Vec::new(),
    })
}

/// Content keys: absent until put; the first put wins and every later put gets the first
/// set back; keys of one pair are not seen through another; missing resources are NotFound.
async fn keys_first_writer_wins(repo: Arc<dyn Repository>) {
    with_group(&*repo, "g").await;
    repo.create_config(&config("c1", "g"), Quotas::default())
        .await
        .unwrap();
    repo.create_config(&config("c2", "g"), Quotas::default())
        .await
        .unwrap();
    repo.create_asset(&asset("a", "g"), Quotas::default())
        .await
        .unwrap();
    assert!(repo.get_keys("a", "c1").await.unwrap().is_none());
    let first = repo.put_keys("a", "c1", &key_set(1)).await.unwrap();
    assert_eq!(first, key_set(1));
    let second = repo.put_keys("a", "c1", &key_set(2)).await.unwrap();
    assert_eq!(
        second,
        key_set(1),
        "a later put must get the first set back"
    );
    assert_eq!(repo.get_keys("a", "c1").await.unwrap(), Some(key_set(1)));
    assert!(repo.get_keys("a", "c2").await.unwrap().is_none());
    // Concurrent puts of one pair: one set wins, everyone gets it.
    let results = futures::future::join_all((10..20u8).map(|t| {
        let repo = repo.clone();
        async move { repo.put_keys("a", "c2", &key_set(t)).await.unwrap() }
    }))
    .await;
    assert!(results.iter().all(|r| *r == results[0]));
    assert_eq!(
        repo.get_keys("a", "c2").await.unwrap().as_ref(),
        Some(&results[0])
    );
    assert!(matches!(
        repo.put_keys("nope", "c1", &key_set(3)).await,
        Err(RepoError::NotFound { .. })
    ));
    assert!(matches!(
        repo.put_keys("a", "nope", &key_set(3)).await,
        Err(RepoError::NotFound { .. })
    ));
}

/// Deleting the asset or the configuration deletes its keys; a re-created one starts empty.
async fn keys_go_with_their_asset_or_configuration(repo: Arc<dyn Repository>) {
    with_group(&*repo, "g").await;
    repo.create_config(&config("c", "g"), Quotas::default())
        .await
        .unwrap();
    repo.create_asset(&asset("a", "g"), Quotas::default())
        .await
        .unwrap();
    repo.create_asset(&asset("b", "g"), Quotas::default())
        .await
        .unwrap();
    repo.put_keys("a", "c", &key_set(1)).await.unwrap();
    repo.put_keys("b", "c", &key_set(2)).await.unwrap();
    repo.delete_asset("a").await.unwrap();
    repo.create_asset(&asset("a", "g"), Quotas::default())
        .await
        .unwrap();
    assert!(repo.get_keys("a", "c").await.unwrap().is_none());
    assert_eq!(repo.get_keys("b", "c").await.unwrap(), Some(key_set(2)));
    repo.delete_config("c").await.unwrap();
    repo.create_config(&config("c", "g"), Quotas::default())
        .await
        .unwrap();
    assert!(repo.get_keys("b", "c").await.unwrap().is_none());
    // The group can go once its resources have (no key row holds it).
    repo.delete_asset("a").await.unwrap();
    repo.delete_asset("b").await.unwrap();
    repo.delete_config("c").await.unwrap();
    repo.delete_group("g").await.unwrap();
}

async fn stored_indexes_round_trip(repo: Arc<dyn Repository>) {
    with_group(&*repo, "g").await;
    assert_eq!(repo.get_index("ghost").await.unwrap(), None);
    repo.create_asset(&asset("a", "g"), ROOMY).await.unwrap();
    assert_eq!(repo.get_index("a").await.unwrap(), None);
    let a = repo.claim_next_queued().await.unwrap().unwrap();
    // Every byte value, a few MB, the largest format version.
    let bytes: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let ok = IngestOutcome::Playable {
        index: &bytes,
        format_version: u16::MAX,
    };
    assert!(repo.finish_ingest("a", &a.egress_id, ok).await.unwrap());
    let (version, stored) = repo.get_index("a").await.unwrap().unwrap();
    assert_eq!(version, u16::MAX);
    assert!(stored == bytes, "index bytes changed in storage");
    // An empty index is an index.
    repo.create_asset(&asset("e", "g"), ROOMY).await.unwrap();
    let e = repo.claim_next_queued().await.unwrap().unwrap();
    let empty = IngestOutcome::Playable {
        index: &[],
        format_version: 0,
    };
    assert!(repo.finish_ingest("e", &e.egress_id, empty).await.unwrap());
    assert_eq!(repo.get_index("e").await.unwrap(), Some((0, Vec::new())));
    // Indexes belong to one asset: a re-created id never sees the old one.
    repo.delete_asset("a").await.unwrap();
    assert_eq!(repo.get_index("a").await.unwrap(), None);
    repo.create_asset(&asset("a", "g"), ROOMY).await.unwrap();
    assert_eq!(repo.get_index("a").await.unwrap(), None);
    assert_eq!(repo.get_index("e").await.unwrap(), Some((0, Vec::new())));
}

/// The SQLite backend against the contract, each rule on a fresh database file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_keeps_the_repository_contract() {
    let dir = std::env::temp_dir().join(format!("vodpack-contract-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = dir.clone();
    run("SqliteRepository", move || {
        let file = root.join(format!("{}.sqlite3", uuid::Uuid::new_v4()));
        async move {
            Arc::new(super::sqlite::SqliteRepository::open(&file).await.unwrap())
                as Arc<dyn Repository>
        }
    })
    .await;
    std::fs::remove_dir_all(&dir).ok();
}
