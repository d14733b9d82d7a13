//! The app on Redis (issue 15 §3, §4): `[key_value_store.default] type =
//! "redis"` against a real `redis-server`, its faults (eviction, refused
//! writes, a server that is down, a restart), and three `prompthelm up`
//! replicas on one SQLite file and one Redis, as SpinKube runs
//! `replicas: 3`: promotes on one replica are read by the others' very next
//! calls, the rate limit is counted once for all, and each migration is
//! applied once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::api::{Client, id, version_body};
use crate::harness::{Options, Runtime, app_manifest, repo_root};
use crate::redis::RedisServer;
use crate::timeline::{Change, assert_served_current};

const BOOTSTRAP: &str = "phk_0123456789abcdef0123456789abcdef";

/// A runtime config putting the database in `state` and the cache on Redis.
fn runtime_config(dir: &Path, state: &Path, redis: &RedisServer) -> PathBuf {
    let file = dir.join("runtime-config.toml");
    std::fs::write(
        &file,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n\n\
             [sqlite_database.default]\ntype = \"spin\"\npath = \"{}\"\n",
            redis.url(),
            state.join("sqlite_db.db").display()
        ),
    )
    .unwrap();
    file
}

/// Options for a replica: shared state dir and runtime config, the
/// bootstrap token as the way in (so no replica mints its own).
fn replica(state: &Path, config: &Path, rate_limit: u32) -> Options {
    Options::new(app_manifest())
        .state_dir(state)
        .arg("--runtime-config-file")
        .arg(config.display().to_string())
        .env("SPIN_VARIABLE_BOOTSTRAP_TOKEN", BOOTSTRAP)
        .env(
            "SPIN_VARIABLE_GATEWAY_RATE_LIMIT_PER_MINUTE",
            &rate_limit.to_string(),
        )
}

struct Cluster {
    _dir: tempfile::TempDir,
    state: PathBuf,
    redis: RedisServer,
    replicas: Vec<Arc<Runtime>>,
}

/// `n` replicas started at the same time on one state dir and one Redis.
fn cluster(n: usize, rate_limit: u32) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let redis = RedisServer::start();
    let config = runtime_config(dir.path(), &state, &redis);
    // Components are built once, before the replicas race to start.
    crate::harness::build_components();
    let starting: Vec<_> = (0..n)
        .map(|_| {
            let opts = replica(&state, &config, rate_limit);
            std::thread::spawn(move || Runtime::probe(opts))
        })
        .collect();
    let replicas = starting
        .into_iter()
        .map(|h| Arc::new(h.join().unwrap()))
        .collect();
    Cluster {
        _dir: dir,
        state,
        redis,
        replicas,
    }
}

fn client(rt: &Runtime) -> Client<'_> {
    Client {
        rt,
        token: BOOTSTRAP.to_owned(),
    }
}

/// Each migration file is recorded once, and was applied by one replica.
fn assert_migrated_once(c: &Cluster) {
    let db = rusqlite::Connection::open(c.state.join("sqlite_db.db")).unwrap();
    let rows: Vec<(i64, i64)> = db
        .prepare("SELECT version, count(*) FROM _prompthelm_migrations GROUP BY version")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let files = prompthelm_migrations::load_dir(&repo_root().join("migrations")).unwrap();
    assert_eq!(rows.len(), files.len(), "{rows:?}");
    assert!(rows.iter().all(|&(_, n)| n == 1), "{rows:?}");
    let logs: String = c.replicas.iter().map(|rt| rt.logs()).collect();
    for m in &files {
        let line = format!("Applied migration {:04}_{}", m.version, m.name);
        let applied = logs.matches(&line).count();
        assert_eq!(applied, 1, "{line}: {applied} times\n{logs}");
    }
}

#[test]
fn the_app_on_redis_survives_eviction_refusal_and_a_dead_server() {
    let mut c = cluster(1, 0);
    let rt = c.replicas[0].clone();
    let api = client(&rt);
    let pid = id(&api.create_prompt("on-redis"));
    let v1 = id(&api.save_version(&pid, &version_body("one", 0.2, &[], "v1")));
    let v2 = id(&api.save_version(&pid, &version_body("two", 0.4, &[], "v2")));
    let promotion = api.promote(&pid, &v1);
    assert!(promotion.get("warnings").is_none(), "{promotion}");

    // End to end on Redis: served, cached, and the entries live in Redis
    // under the store's label.
    assert_eq!(api.served("promptSlug", "on-redis"), v1);
    assert_eq!(api.resolve("promptSlug=on-redis")["cache"], "hit");
    let keys = c.redis.keys();
    assert!(!keys.is_empty(), "nothing cached in Redis");
    assert!(keys.iter().all(|k| k.starts_with("default:")), "{keys:?}");
    let health = rt.get("/api/v1/gateway/health");
    assert_eq!(health.json()["status"], "ok", "{}", health.body);

    // Eviction: a miss read from the database, then a hit again.
    c.redis.cmd(&["FLUSHALL"]);
    let seen = api.resolve("promptSlug=on-redis");
    assert_eq!(seen["cache"], "miss", "{seen}");
    assert_eq!(seen["version"]["id"], v1.as_str());
    assert_eq!(api.resolve("promptSlug=on-redis")["cache"], "hit");

    // Refusal (maxmemory reached, noeviction): the promote commits and
    // warns; the old entry is never served.
    c.redis
        .cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    c.redis.cmd(&["CONFIG", "SET", "maxmemory", "1"]);
    let promotion = api.promote(&pid, &v2);
    assert_eq!(promotion["versionId"], v2.as_str());
    assert!(promotion["warnings"].is_array(), "{promotion}");
    assert_eq!(api.served("promptSlug", "on-redis"), v2);
    assert_eq!(api.served("promptId", &pid), v2);
    assert_eq!(
        api.resolve("promptSlug=on-redis")["version"]["id"],
        v2.as_str()
    );
    c.redis.cmd(&["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(api.served("promptSlug", "on-redis"), v2);
    assert_eq!(api.resolve("promptSlug=on-redis")["cache"], "hit");

    // Down: health degraded, the database serves, no error.
    c.redis.kill();
    let health = rt.get("/api/v1/gateway/health");
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json()["status"], "degraded", "{}", health.body);
    assert_eq!(api.served("promptSlug", "on-redis"), v2);
    assert_eq!(api.served("promptId", &pid), v2);
    let seen = api.resolve("promptSlug=on-redis");
    assert_eq!(seen["cache"], "unavailable", "{seen}");
    assert_eq!(seen["version"]["id"], v2.as_str());

    // Restarted (empty): the runtime reconnects; a refill, then hits.
    c.redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = api.resolve("promptSlug=on-redis");
        assert_eq!(seen["version"]["id"], v2.as_str());
        if seen["cache"] == "hit" {
            break;
        }
        assert!(Instant::now() < deadline, "never a hit again: {seen}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let health = rt.get("/api/v1/gateway/health");
    assert_eq!(health.json()["status"], "ok", "{}", health.body);
    assert_migrated_once(&c);
}

/// One gateway call on replica B or C.
struct Observation {
    sent: Instant,
    returned: Instant,
    version: String,
    cache: Option<String>,
}

/// Promotes go to replica A while B and C serve gateway calls from several
/// threads: a call sent after a promote returned is always served by that
/// version or a later one, whichever replica answers.
#[test]
fn three_replicas_read_their_writes_through_one_database_and_one_redis() {
    const VERSIONS: usize = 6;
    const CHANGES: usize = 40;
    const THREADS_PER_READER: usize = 2;

    let c = cluster(3, 0);
    assert_migrated_once(&c);
    let writer = client(&c.replicas[0]);
    let pid = id(&writer.create_prompt("replicated"));
    let versions: Vec<String> = (0..VERSIONS)
        .map(|i| {
            id(&writer.save_version(
                &pid,
                &version_body(&format!("v{i}"), 0.1, &[], &format!("v{i}")),
            ))
        })
        .collect();
    let t0 = Instant::now();
    writer.promote(&pid, &versions[0]);
    let changes = Arc::new(Mutex::new(vec![Change {
        sent: t0,
        returned: Instant::now(),
        state: versions[0].clone(),
    }]));
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = c.replicas[1..]
        .iter()
        .flat_map(|rt| (0..THREADS_PER_READER).map(move |t| (rt.clone(), t)))
        .map(|(rt, t)| {
            let (pid, done) = (pid.clone(), done.clone());
            std::thread::spawn(move || {
                let api = client(&rt);
                let mut seen = Vec::new();
                let mut n = t;
                while !done.load(Ordering::SeqCst) {
                    n += 1;
                    let sent = Instant::now();
                    let (version, cache) = if n % 2 == 0 {
                        let r = api.resolve(&format!("promptId={pid}"));
                        (
                            r["version"]["id"].as_str().unwrap().to_owned(),
                            r["cache"].as_str().map(str::to_owned),
                        )
                    } else {
                        (api.served("promptSlug", "replicated"), None)
                    };
                    seen.push(Observation {
                        sent,
                        returned: Instant::now(),
                        version,
                        cache,
                    });
                }
                seen
            })
        })
        .collect();

    let mut rng = 0x2545_f491_u32;
    let mut current = 0;
    for _ in 0..CHANGES {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        // Never the version just replaced, so serving it is visible.
        current = (current + 1 + rng as usize % (VERSIONS - 1)) % VERSIONS;
        let vid = &versions[current];
        let sent = Instant::now();
        let res = writer.call(
            "POST",
            &format!("/api/v1/prompts/{pid}/versions/{vid}/promote"),
            None,
        );
        let returned = Instant::now();
        assert_eq!(res.status, 200, "{}", res.body);
        assert!(res.json().get("warnings").is_none(), "{}", res.body);
        changes.lock().unwrap().push(Change {
            sent,
            returned,
            state: vid.clone(),
        });
        std::thread::sleep(Duration::from_millis(10 + u64::from(rng % 20)));
    }
    done.store(true, Ordering::SeqCst);
    let observations: Vec<Observation> = readers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();

    let changes = changes.lock().unwrap();
    for call in &observations {
        assert_served_current(&changes, call.sent, call.returned, &call.version);
    }
    assert!(
        observations.len() > 100,
        "only {} calls",
        observations.len()
    );
    // The other replicas really used the shared cache A refreshed.
    let hits = observations
        .iter()
        .filter(|o| o.cache.as_deref() == Some("hit"))
        .count();
    assert!(hits > 0, "no resolve on B or C hit the shared cache");
    let last = &changes.last().unwrap().state;
    for rt in &c.replicas {
        assert_eq!(&client(rt).served("promptId", &pid), last);
    }
}

fn now_window() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        / 60_000
}

/// 30 calls with one token, spread over three replicas with a limit of
/// 20 a minute: exactly 20 pass, whichever replica took them.
#[test]
fn three_replicas_share_one_rate_limit() {
    let c = cluster(3, 20);
    assert_migrated_once(&c);
    let admin = client(&c.replicas[0]);
    let pid = id(&admin.create_prompt("limited"));
    let vid = id(&admin.save_version(&pid, &version_body("one", 0.2, &[], "v1")));
    admin.promote(&pid, &vid);

    for attempt in 0..2 {
        // Start well inside a minute window, so 30 calls do not cross it.
        let into = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis()
            % 60_000;
        if into > 45_000 || attempt > 0 {
            std::thread::sleep(Duration::from_millis((60_000 - into + 200) as u64));
        }
        let window = now_window();
        let calls: Vec<_> = (0..6)
            .map(|t| {
                let (rt, pid) = (c.replicas[t % 3].clone(), pid.clone());
                std::thread::spawn(move || {
                    let api = client(&rt);
                    (0..5)
                        .map(|_| {
                            let res = api.execute_echo("promptId", &pid);
                            (res.status, res.body)
                        })
                        .collect::<Vec<(u16, String)>>()
                })
            })
            .collect();
        let answers: Vec<(u16, String)> =
            calls.into_iter().flat_map(|h| h.join().unwrap()).collect();
        if now_window() != window {
            assert_eq!(attempt, 0, "the check crossed a minute boundary twice");
            continue;
        }
        let ok = answers.iter().filter(|(s, _)| *s == 200).count();
        let limited = answers.iter().filter(|(s, _)| *s == 429).count();
        let others: Vec<&(u16, String)> = answers
            .iter()
            .filter(|(s, _)| *s != 200 && *s != 429)
            .collect();
        assert_eq!((ok, limited), (20, 10), "other answers: {others:?}");
        return;
    }
}
