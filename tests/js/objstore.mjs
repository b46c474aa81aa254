// tests/js/objstore.mjs -- the JetStream object store and KV, as the
// official nats.js client (npm `nats` 2.x) builds them, against a running
// server.
//
// Purpose: libnats has no object-store API, so this drives the server with
// a second client family.  The object store is built by the client from
// plain stream features: chunks published to $O.<bucket>.C.<nuid>, one
// metadata message per object on $O.<bucket>.M.<name> replaced with a
// "Nats-Rollup: sub" header, and chunk purges filtered by subject.  Every
// one of those must work for a 1 MiB object to come back intact.
//
// Usage: node objstore.mjs [nats://127.0.0.1:PORT]   (else $NATS_URL)
// Prints one line per failure and a final "objstore: N checks passed" (exit
// 0) or "objstore: N checks passed, M failed" (exit 1).
//
// NOTES: every server round trip is bounded (STEP_MS per step, WATCHDOG_MS
// for the whole run), reconnects are off so a dying server fails fast, and
// a failed step skips the steps that depend on it rather than hanging.
import { createHash, randomBytes } from "node:crypto";
import { connect, StringCodec } from "nats";

const STEP_MS = 8000;
const WATCHDOG_MS = 18000;
const MIB = 1024 * 1024;
const OS_BUCKET = "dtobj";
const KV_BUCKET = "dtkv";

const url = process.argv[2] || process.env.NATS_URL || "nats://127.0.0.1:4222";
let passed = 0;
let failed = 0;
let current = "start";

function check(ok, what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        console.log(`FAIL [${current}] ${what}`);
    }
    return ok;
}

function finish() {
    if (failed === 0) {
        console.log(`objstore: ${passed} checks passed`);
        process.exit(0);
    }
    console.log(`objstore: ${passed} checks passed, ${failed} failed`);
    process.exit(1);
}

// The error text plus the JetStream API error the server sent, if any.
function describe(err) {
    let s = err && err.message ? err.message : String(err);
    if (err && err.api_error)
        s += ` (api_error ${JSON.stringify(err.api_error)})`;
    if (err && err.code)
        s += ` (code ${err.code})`;
    return s;
}

// Runs one step; a throw or a timeout counts as one failure.  Returns the
// step's value, or undefined when it failed.
async function step(name, fn) {
    current = name;
    let timer;
    const limit = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${STEP_MS} ms`)),
                           STEP_MS);
    });
    try {
        return await Promise.race([fn(), limit]);
    } catch (err) {
        check(false, `threw: ${describe(err)}`);
        return undefined;
    } finally {
        clearTimeout(timer);
    }
}

// The digest nats.js stores: "SHA-256=" + padded base64url of the SHA-256.
function expectedDigest(bytes) {
    const b64 = createHash("sha256").update(bytes).digest("base64");
    return "SHA-256=" + b64.replace(/\+/g, "-").replace(/\//g, "_");
}

function sameBytes(a, b) {
    return a != null && b != null && a.length === b.length &&
           Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length),
                          Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

// Reads an object through get(): the stream, then the client's own digest
// verdict (result.error resolves to an Error on a mismatch, else to
// null or undefined).
async function readViaStream(os, name) {
    const r = await os.get(name);
    if (r === null)
        return { data: null, error: new Error("get returned null") };
    const parts = [];
    let n = 0;
    const reader = r.data.getReader();
    for (;;) {
        const { done, value } = await reader.read();
        if (done)
            break;
        parts.push(value);
        n += value.length;
    }
    return { data: Buffer.concat(parts, n), error: await r.error, info: r.info };
}

async function streamMessages(jsm, stream) {
    const si = await jsm.streams.info(stream);
    return si.state.messages;
}

async function objectStore(nc, jsm) {
    const js = nc.jetstream();
    const stream = `OBJ_${OS_BUCKET}`;
    const big = randomBytes(MIB);
    const small = randomBytes(MIB);
    const next = randomBytes(300 * 1024 + 7);

    const os = await step("os create", () => js.views.os(OS_BUCKET));
    if (!check(os !== undefined, "object store bucket created"))
        return;

    // 1 MiB with the default 128 KiB chunks: 8 chunks
    const info1 = await step("put default chunks", () =>
        os.putBlob({ name: "big", description: "1 MiB default chunks" }, big));
    if (info1) {
        check(info1.size === MIB, `put size ${info1.size} == ${MIB}`);
        check(info1.chunks === 8, `put chunks ${info1.chunks} == 8`);
        check(info1.digest === expectedDigest(big),
              `put digest ${info1.digest} == ${expectedDigest(big)}`);
    }
    await step("getBlob default chunks", async () => {
        const got = await os.getBlob("big");
        check(sameBytes(got, big),
              `getBlob returns the same 1 MiB (got ${got ? got.length : null} bytes)`);
    });
    await step("get stream default chunks", async () => {
        const r = await readViaStream(os, "big");
        check(r.error == null, `client digest check passed (${r.error})`);
        check(sameBytes(r.data, big), "streamed read returns the same 1 MiB");
    });

    // 1 MiB with 64 KiB chunks: 16 chunks
    const info2 = await step("put 64 KiB chunks", () =>
        os.putBlob({ name: "small-chunks", options: { max_chunk_size: 64 * 1024 } },
                   small));
    if (info2) {
        check(info2.chunks === 16, `put chunks ${info2.chunks} == 16`);
        check(info2.size === MIB, `put size ${info2.size} == ${MIB}`);
    }
    await step("get stream 64 KiB chunks", async () => {
        const r = await readViaStream(os, "small-chunks");
        check(r.error == null, `client digest check passed (${r.error})`);
        check(sameBytes(r.data, small), "streamed read returns the same 1 MiB");
    });

    await step("info", async () => {
        const i = await os.info("big");
        check(i !== null, "info of big is found");
        if (i === null)
            return;
        check(i.size === MIB && i.chunks === 8 && !i.deleted,
              `info size ${i.size} chunks ${i.chunks} deleted ${i.deleted}`);
        check(i.digest === expectedDigest(big), "info digest matches the data");
        check(i.description === "1 MiB default chunks",
              `info description "${i.description}"`);
        check(i.bucket === OS_BUCKET, `info bucket "${i.bucket}"`);
        const none = await os.info("no-such-object");
        check(none === null, "info of a missing object is null");
    });

    await step("list", async () => {
        const names = (await os.list()).map((i) => i.name).sort();
        check(JSON.stringify(names) === JSON.stringify(["big", "small-chunks"]),
              `list ${JSON.stringify(names)} == ["big","small-chunks"]`);
    });

    await step("status", async () => {
        const st = await os.status();
        check(st.bucket === OS_BUCKET, `status bucket "${st.bucket}"`);
        check(st.size >= 2 * MIB, `status size ${st.size} >= 2 MiB`);
        // 8 + 16 chunks and 2 metadata messages
        const n = await streamMessages(jsm, stream);
        check(n === 26, `stream holds ${n} messages == 26`);
    });

    // delete: metadata rolled up to a "deleted" record, chunks purged
    await step("delete", async () => {
        const pr = await os.delete("small-chunks");
        check(pr.success === true && pr.purged === 16,
              `delete purged ${pr.purged} chunks (success ${pr.success}) == 16`);
        const i = await os.info("small-chunks");
        check(i !== null && i.deleted === true,
              `info after delete: deleted ${i ? i.deleted : "null"}`);
        check((await os.get("small-chunks")) === null, "get after delete is null");
        const names = (await os.list()).map((x) => x.name);
        check(JSON.stringify(names) === JSON.stringify(["big"]),
              `list after delete ${JSON.stringify(names)} == ["big"]`);
        // 8 chunks of big, its metadata, the deleted record
        const n = await streamMessages(jsm, stream);
        check(n === 10, `stream holds ${n} messages after delete == 10`);
    });

    // a second version of "big": new metadata rolls up the old, the old
    // chunks are purged
    const info3 = await step("put new version", () =>
        os.putBlob({ name: "big" }, next));
    if (info3) {
        check(info3.size === next.length && info3.chunks === 3,
              `new version size ${info3.size} chunks ${info3.chunks} == ${next.length}/3`);
        check(info1 === undefined || info3.nuid !== info1.nuid,
              "new version has a new nuid");
        check(info1 === undefined || info3.revision > info1.revision,
              `revision ${info3.revision} > ${info1 ? info1.revision : "?"}`);
    }
    await step("get new version", async () => {
        const r = await readViaStream(os, "big");
        check(r.error == null, `client digest check passed (${r.error})`);
        check(sameBytes(r.data, next), "read returns the new content");
        const i = await os.info("big");
        check(i !== null && i.size === next.length && i.chunks === 3 &&
              i.digest === expectedDigest(next),
              `info shows the new version (size ${i ? i.size : null})`);
        // 3 new chunks, big's metadata, small-chunks' deleted record
        const n = await streamMessages(jsm, stream);
        check(n === 5, `stream holds ${n} messages after rollup == 5`);
    });

    // watch with history: an ordered consumer, last message per metadata
    // subject, then null once caught up, then live updates
    await step("watch", async () => {
        const w = await os.watch({ includeHistory: true });
        const seen = [];
        let caughtUp = false;
        let live = null;
        for await (const e of w) {
            if (e === null) {
                caughtUp = true;
                await os.putBlob({ name: "late" }, new Uint8Array([1, 2, 3]));
                continue;
            }
            if (caughtUp) {
                live = e;
                break;
            }
            seen.push(`${e.name}${e.deleted ? ":deleted" : ""}`);
        }
        w.stop();
        check(JSON.stringify(seen) === JSON.stringify(["small-chunks:deleted", "big"]),
              `watch history ${JSON.stringify(seen)} == ["small-chunks:deleted","big"]`);
        check(live !== null && live.name === "late" && live.size === 3,
              `watch live update ${live ? live.name : null}`);
    });

    await step("destroy", async () => {
        check((await os.destroy()) === true, "destroy returns true");
        let gone = false;
        try {
            await jsm.streams.info(stream);
        } catch (err) {
            gone = /stream not found/.test(err.message);
        }
        check(gone, "the bucket's stream is gone");
    });
}

async function keyValue(nc) {
    const js = nc.jetstream();
    const sc = StringCodec();
    const kv = await step("kv create", () => js.views.kv(KV_BUCKET, { history: 5 }));
    if (!check(kv !== undefined, "kv bucket created"))
        return;
    const r1 = await step("kv put", () => kv.put("greeting.en", sc.encode("hello")));
    const r2 = await step("kv put again", () => kv.put("greeting.en", sc.encode("hi")));
    check(typeof r1 === "number" && typeof r2 === "number" && r2 > r1,
          `put revisions ${r1} then ${r2}`);
    await step("kv get", async () => {
        const e = await kv.get("greeting.en");
        check(e !== null && sc.decode(e.value) === "hi" && e.revision === r2,
              `get value "${e ? sc.decode(e.value) : null}" rev ${e ? e.revision : null}`);
        check((await kv.get("greeting.fr")) === null, "get of a missing key is null");
    });
    await step("kv watch", async () => {
        const w = await kv.watch({ key: "greeting.>" });
        let first = null;
        for await (const e of w) {
            first = e;
            break;
        }
        w.stop();
        check(first !== null && first.key === "greeting.en" &&
              sc.decode(first.value) === "hi" && first.operation === "PUT",
              `watch first value ${first ? `${first.key}="${sc.decode(first.value)}"` : null}`);
    });
    await step("kv history", async () => {
        const h = await kv.history({ key: "greeting.en" });
        const vals = [];
        for await (const e of h)
            vals.push(sc.decode(e.value));
        check(JSON.stringify(vals) === JSON.stringify(["hello", "hi"]),
              `history ${JSON.stringify(vals)}`);
    });
    await step("kv destroy", async () => {
        check((await kv.destroy()) === true, "kv destroy returns true");
    });
}

// The JetStream manager; it asks for the account info, which may fail for
// a moment while the server's storage side is still starting: retry a few
// times, bounded by the step timeout.
async function jetstreamManager(nc) {
    let last;
    for (let i = 0; i < 10; i++) {
        try {
            return await nc.jetstreamManager({ timeout: 2000 });
        } catch (err) {
            last = err;
            await new Promise((r) => setTimeout(r, 300));
        }
    }
    throw last;
}

async function main() {
    const watchdog = setTimeout(() => {
        check(false, `whole run exceeded ${WATCHDOG_MS} ms`);
        finish();
    }, WATCHDOG_MS);
    const nc = await step("connect", () =>
        connect({ servers: url, timeout: 3000, reconnect: false, maxReconnectAttempts: 0 }));
    if (!check(nc !== undefined, `connected to ${url}`))
        finish();
    const jsm = await step("jsm", () => jetstreamManager(nc));
    if (check(jsm !== undefined, "JetStream is enabled")) {
        await objectStore(nc, jsm);
        await keyValue(nc);
    }
    current = "close";
    await step("close", () => nc.close());
    clearTimeout(watchdog);
    finish();
}

main().catch((err) => {
    check(false, `unexpected: ${describe(err)}`);
    finish();
});
