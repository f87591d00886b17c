// End-to-end checks of Weir with kafkajs, run by scripts/e2e.sh.
//
//   node e2e/kafkajs.mjs produce BROKER TOPIC STATE
//       Creates TOPIC (CreateTopics when the broker offers it, otherwise
//       the producer's auto-creation through Metadata), produces keyed records with
//       headers, null keys and null values in batches with acks -1, acks 1
//       and acks 0, one of them gzip-compressed, then runs `check`. Writes
//       STATE.json (what was produced) and STATE.kcat: the lines that
//       `kcat -C -Z -f '%p|%o|%k|%s|%h|%T\n'` must print for the topic,
//       sorted by partition and offset. scripts/e2e.sh reads the records
//       back with kcat and compares.
//   node e2e/kafkajs.mjs check BROKER STATE
//       Checks the topic's metadata, its low and high offsets and offsets
//       by timestamp against STATE.json (run again after a restart).
//   node e2e/kafkajs.mjs offsets BROKER TOPIC PARTITIONS HIGH
//       Checks a topic another client wrote: its partition count, and that
//       every partition starts at 0 and the first ends at HIGH.
//   node e2e/kafkajs.mjs group BROKER TOPIC GROUP STATE
//       Consumer groups (the classic protocol). Creates TOPIC with 3
//       partitions and produces to every partition; a consumer in GROUP
//       subscribes fromBeginning, reads every record (eachMessage, auto
//       commit), disconnects, and the group's committed offsets are the
//       high watermarks; a second run of GROUP reads only the records
//       produced after it joined, nothing old; two consumers in GROUP-pair
//       split the partitions: disjoint assignments, each reads only its
//       own partitions, and together every record exactly once. Records
//       are compared exactly (partition, offset, key, value, headers,
//       timestamp). Writes STATE.json (the groups' committed offsets).
//   node e2e/kafkajs.mjs group-check BROKER STATE
//       After a restart: both groups' committed offsets are still those in
//       STATE.json, and GROUP started again reads nothing old, only what is
//       produced after it joined.
//
// Exits 0 when every check passes, 1 with a message naming the failed check
// otherwise.

import { readFileSync, writeFileSync } from "node:fs";
import kafkajs from "kafkajs";

const { Kafka, CompressionTypes, logLevel } = kafkajs;

// Partitions asked for when CreateTopics is available.
const CREATE_PARTITIONS = 3;

// kafkajs logs protocol errors at ERROR and oddities at WARN, such as a
// response whose correlation id matches no request ("Response without
// match"), which is what a broker that answers an acks=0 produce causes.
// All of them are printed, except the one error a check expects; the ones
// that mean the broker broke the protocol fail the run.
const unmatched = [];
let expectedError = null; // a RegExp while a check expects a logged error
const logCreator =
  () =>
  ({ level, log }) => {
    if (level > logLevel.WARN) return;
    const { message, ...extra } = log;
    if (expectedError && expectedError.test(`${message} ${extra.error ?? ""}`)) return;
    const line = `kafkajs ${level === logLevel.ERROR ? "ERROR" : "WARN"}: ${message} ${JSON.stringify(extra)}`;
    if (/without match/i.test(message)) unmatched.push(line);
    console.error(line);
  };

// Records carry explicit partitions; kafkajs' note about its default
// partitioner does not apply.
process.env.KAFKAJS_NO_PARTITIONER_WARNING = "1";

function fail(msg) {
  throw new Error(msg);
}

function expectEqual(what, got, want) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) fail(`${what}: got ${g}, want ${w}`);
  console.log(`ok   ${what}: ${g}`);
}

function client(broker) {
  return new Kafka({
    clientId: "weir-e2e",
    brokers: [broker],
    connectionTimeout: 3000,
    requestTimeout: 10000,
    retry: { retries: 3, initialRetryTime: 100 },
    logLevel: logLevel.WARN,
    logCreator,
  });
}

// The records to produce: [batch options, messages]. Timestamps are
// explicit and a second apart so that offsets by timestamp are exact.
// Partitions are assigned when a batch is sent (the partition count may be
// known only after the first batch auto-created the topic).
function plan(base) {
  let i = 0;
  const msg = (key, value, headers) => ({ key, value, headers, timestamp: String(base + i++ * 1000) });
  return [
    [
      { acks: -1 },
      [
        msg("k0", "plain value 0", { h1: "a", h2: "b" }),
        msg("k1", null, { tombstone: "yes" }),
        msg(null, "no key", { h1: "c" }),
        msg("k3", "no headers", undefined),
        msg("k4", "unicode: grüße ✓", { "hdr-ü": "värde" }),
        msg(null, null, undefined),
      ],
    ],
    [
      { acks: -1, compression: CompressionTypes.GZIP },
      [
        msg("g0", "gzip value 0", { codec: "gzip" }),
        msg("g1", null, { codec: "gzip" }),
        msg(null, "gzip value 2", { codec: "gzip", n: "2" }),
        msg("g3", "gzip ".repeat(200).trim(), { codec: "gzip" }),
        msg("g4", "gzip value 4", undefined),
        msg("g5", "gzip value 5", { codec: "gzip" }),
      ],
    ],
    [{ acks: 1 }, [msg("a1-0", "acks=1 value 0", { acks: "1" }), msg("a1-1", "acks=1 value 1", { acks: "1" })]],
    // acks=0: the broker must not answer. Sent before a last acks=-1 batch
    // on the same connection, whose answer proves the acks=0 batch was
    // handled (a broker handles a connection's requests in order).
    [{ acks: 0 }, [msg("a0-0", "acks=0 value 0", { acks: "0" })]],
    [{ acks: -1 }, [msg("last", "acks=-1 after acks=0", { acks: "-1" })]],
  ];
}

async function partitionCount(admin, topic) {
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  const t = meta.topics.find((x) => x.name === topic) ?? fail(`fetchTopicMetadata: topic ${topic} missing`);
  if (t.partitions.length < 1) fail(`fetchTopicMetadata ${topic}: no partitions`);
  return t.partitions.length;
}

// create makes the topic with CreateTopics when the broker offers the API
// and returns its partition count. It returns 0 when the broker does not
// offer CreateTopics: the producer's first batch then auto-creates the
// topic through Metadata.
async function create(kafka, admin, topic) {
  // The admin client's Metadata does not ask for auto-creation: an
  // unknown topic must stay unknown. (A client of its own: kafkajs keeps
  // asking about a topic it was asked about once, and the answer would
  // fail the createTopics below.)
  const probe = kafka.admin();
  await probe.connect();
  expectedError = /Response Metadata.*does not host this topic-partition/;
  try {
    await probe.fetchTopicMetadata({ topics: [topic] });
    fail(`fetchTopicMetadata ${topic} before creation: succeeded, want UNKNOWN_TOPIC_OR_PARTITION`);
  } catch (e) {
    expectEqual(`fetchTopicMetadata ${topic} before creation (no auto-create)`, e.type, "UNKNOWN_TOPIC_OR_PARTITION");
  } finally {
    expectedError = null;
    await probe.disconnect();
  }
  try {
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: CREATE_PARTITIONS, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    expectEqual(`createTopics ${topic} created`, created, true);
  } catch (e) {
    if (e.name !== "KafkaJSServerDoesNotSupportApiKey") throw e;
    console.log(`skip createTopics: the broker does not offer CreateTopics yet (${e.message}); the producer auto-creates the topic`);
    return 0;
  }
  expectEqual(`fetchTopicMetadata ${topic} partitions after createTopics`, await partitionCount(admin, topic), CREATE_PARTITIONS);
  return CREATE_PARTITIONS;
}

async function produce(broker, topic, statePath) {
  const kafka = client(broker);
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  const base = Date.now() - 3_600_000; // an hour ago, a second per record
  const records = [];
  let partitions = 0;
  let next = [];
  try {
    partitions = await create(kafka, admin, topic);
    let n = 0;
    for (const [opts, batch] of plan(base)) {
      // Before the topic exists (auto-creation) everything goes to
      // partition 0; after, records go round the partitions.
      const messages = batch.map((m) => ({ ...m, partition: partitions ? n++ % partitions : 0 }));
      const res = await producer.send({ topic, messages, ...opts });
      if (!partitions) {
        partitions = await partitionCount(admin, topic);
        console.log(`ok   topic ${topic} auto-created by the producer: ${partitions} partition(s)`);
      }
      while (next.length < partitions) next.push(0);
      const what = `produce ${messages.length} record(s) acks=${opts.acks}${opts.compression ? " gzip" : ""}`;
      if (opts.acks === 0) {
        console.log(`ok   ${what}: sent (no answer expected)`);
      } else {
        // kafkajs returns the base offset per partition.
        const got = res.map((r) => [r.partition, r.errorCode, r.baseOffset]).sort((a, b) => a[0] - b[0]);
        const parts = [...new Set(messages.map((m) => m.partition))].sort((a, b) => a - b);
        expectEqual(`${what} (partition, error, base offset)`, got, parts.map((p) => [p, 0, String(next[p])]));
      }
      for (const m of messages) {
        records.push({ ...m, offset: next[m.partition]++ });
      }
    }
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }

  const state = { topic, partitions, base, records };
  writeFileSync(`${statePath}.json`, JSON.stringify(state, null, 2));
  writeFileSync(`${statePath}.kcat`, kcatLines(records));
  await check(broker, statePath);
}

// kcatLines renders records the way `kcat -C -Z -f '%p|%o|%k|%s|%h|%T\n'`
// prints them: NULL for a null key or value, headers as k=v joined by
// commas, nothing for no headers.
function kcatLines(records) {
  const str = (v) => (v === null ? "NULL" : v);
  return records
    .slice()
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset)
    .map((r) => {
      const h = Object.entries(r.headers ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
      return `${r.partition}|${r.offset}|${str(r.key)}|${str(r.value)}|${h}|${r.timestamp}\n`;
    })
    .join("");
}

async function check(broker, statePath) {
  const { topic, partitions, base, records } = JSON.parse(readFileSync(`${statePath}.json`, "utf8"));
  const admin = client(broker).admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const t = meta.topics.find((x) => x.name === topic) ?? fail(`fetchTopicMetadata: topic ${topic} missing`);
    expectEqual(
      `fetchTopicMetadata ${topic} (partition, leader, replicas, isr)`,
      t.partitions.map((p) => [p.partitionId, p.leader, p.replicas, p.isr]).sort((a, b) => a[0] - b[0]),
      [...Array(partitions).keys()].map((p) => [p, t.partitions[0].leader, [t.partitions[0].leader], [t.partitions[0].leader]]),
    );

    const count = new Array(partitions).fill(0);
    for (const r of records) count[r.partition]++;
    const offs = (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition);
    expectEqual(
      `fetchTopicOffsets ${topic} (partition, low, high)`,
      offs.map((o) => [o.partition, o.low, o.high]),
      count.map((n, p) => [p, "0", String(n)]),
    );

    // For each target: per partition, the first offset whose timestamp is
    // at or after it; past the last record kafkajs reports the high
    // watermark (it turns the broker's -1 into it).
    const targets = [base - 1, base, base + 500, base + 7_000, base + 7_001, base + (records.length - 1) * 1000, base + records.length * 1000];
    for (const ts of targets) {
      const want = count.map((n, p) => {
        const hit = records.find((r) => r.partition === p && Number(r.timestamp) >= ts);
        return [p, String(hit ? hit.offset : n)];
      });
      const got = (await admin.fetchTopicOffsetsByTimestamp(topic, ts)).sort((a, b) => a.partition - b.partition);
      expectEqual(`fetchTopicOffsetsByTimestamp ${topic} base${ts < base ? "-" : "+"}${Math.abs(ts - base)}ms`, got.map((o) => [o.partition, o.offset]), want);
    }
  } finally {
    await admin.disconnect();
  }
}

async function offsets(broker, topic, partitions, high) {
  const admin = client(broker).admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    expectEqual(`fetchTopicMetadata ${topic} partitions`, meta.topics[0].partitions.length, partitions);
    const offs = (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition);
    expectEqual(`fetchTopicOffsets ${topic} partition 0 (low, high)`, [offs[0].low, offs[0].high], ["0", String(high)]);
  } finally {
    await admin.disconnect();
  }
}

// ---- Consumer groups ----

// Partitions of the consumer-group topic.
const GROUP_PARTITIONS = 3;
// How long a group run may take to receive what it waits for: a join
// waits for group.initial.rebalance.delay.ms (3 s by default) and once more
// for every member that joins during the delay.
const GROUP_RUN_TIMEOUT_MS = 20_000;

function consumer(kafka, groupId) {
  return kafka.consumer({
    groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 1000,
    // Short long-polls: a disconnect waits for the fetch in flight.
    maxWaitTimeInMs: 500,
    retry: { retries: 5, initialRetryTime: 100 },
  });
}

// groupBatch makes batch NAME of n records for the group topic: round the
// partitions, keyed (one null key) with headers (one record without), one
// null value, explicit timestamps a millisecond apart.
function groupBatch(name, n, base) {
  return [...Array(n).keys()].map((i) => ({
    partition: i % GROUP_PARTITIONS,
    key: i === 1 ? null : `${name}-${i}`,
    value: i === 2 ? null : `${name} value ${i}`,
    headers: i === 3 ? undefined : { batch: name, n: String(i) },
    timestamp: String(base + i),
  }));
}

// produceGroupBatch sends a batch (acks -1) and returns its records with
// the offsets the broker gave them, checking the base offsets against the
// partitions' high watermarks before the send.
async function produceGroupBatch(kafka, admin, topic, name, n) {
  const high = Object.fromEntries((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]));
  const messages = groupBatch(name, n, Date.now() - 60_000);
  const producer = kafka.producer();
  await producer.connect();
  try {
    const res = await producer.send({ topic, messages, acks: -1 });
    expectEqual(
      `produce batch ${name} to ${topic} (partition, error, base offset)`,
      res.map((r) => [r.partition, r.errorCode, r.baseOffset]).sort((a, b) => a[0] - b[0]),
      [...Array(GROUP_PARTITIONS).keys()].map((p) => [p, 0, String(high[p])]),
    );
  } finally {
    await producer.disconnect();
  }
  return messages.map((m) => ({ ...m, offset: String(high[m.partition]++) }));
}

// recordLine renders a produced or consumed record for comparison.
function recordLine(r) {
  const str = (v) => (v === null || v === undefined ? null : v.toString());
  const headers = Object.entries(r.headers ?? {})
    .map(([k, v]) => `${k}=${str(v)}`)
    .sort()
    .join(",");
  return JSON.stringify([r.partition, r.offset, str(r.key), str(r.value), headers, r.timestamp]);
}

function sortedLines(records) {
  return records
    .slice()
    .sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset))
    .map(recordLine);
}

// expectRecords compares records exactly, in partition and offset order;
// duplicates and missing records show as such.
function expectRecords(what, got, want) {
  const g = sortedLines(got);
  const w = sortedLines(want);
  if (JSON.stringify(g) !== JSON.stringify(w)) {
    const gs = new Set(g);
    const ws = new Set(w);
    const missing = w.filter((l) => !gs.has(l));
    const extra = g.filter((l) => !ws.has(l));
    const dups = g.filter((l, i) => g.indexOf(l) !== i);
    fail(
      `${what}: got ${g.length} record(s), want ${w.length}` +
        `\n  missing: ${missing.slice(0, 10).join(" ")}\n  unexpected: ${extra.slice(0, 10).join(" ")}` +
        `\n  duplicated: ${dups.slice(0, 10).join(" ")}`,
    );
  }
  console.log(`ok   ${what}: ${g.length} record(s), exactly`);
}

// runGroup runs `members` consumers of groupId on topic, all started
// together, subscribed fromBeginning, until `count` records arrived among
// them (onJoin, if given, runs once when the first member joined). Returns
// per member its records and its assignments (one per join), after
// disconnecting every member; records arriving before the disconnect count.
async function runGroup(kafka, groupId, topic, members, count, onJoin) {
  const ms = [...Array(members).keys()].map(() => ({ consumer: consumer(kafka, groupId), records: [], joins: [] }));
  let total = 0;
  let joined = false;
  let done;
  let failed;
  const finished = new Promise((resolve, reject) => {
    done = resolve;
    failed = reject;
  });
  finished.catch(() => {}); // awaited below; may fail before that
  const timer = setTimeout(() => {
    const got = ms.map((m, i) => `member ${i}: ${m.records.length} record(s), joins ${JSON.stringify(m.joins)}`).join("; ");
    failed(new Error(`group ${groupId}: ${total} of ${count} record(s) within ${GROUP_RUN_TIMEOUT_MS} ms (${got})`));
  }, GROUP_RUN_TIMEOUT_MS);
  let hook = Promise.resolve();
  try {
    await Promise.all(ms.map((m) => m.consumer.connect()));
    for (const m of ms) {
      m.consumer.on(m.consumer.events.GROUP_JOIN, ({ payload }) => {
        m.joins.push(payload.memberAssignment[topic] ?? []);
        if (!joined && onJoin) {
          joined = true;
          hook = onJoin().catch((e) => failed(e));
        }
      });
      m.consumer.on(m.consumer.events.CRASH, ({ payload }) => failed(payload.error));
      await m.consumer.subscribe({ topics: [topic], fromBeginning: true });
    }
    await Promise.all(
      ms.map((m) =>
        m.consumer.run({
          autoCommit: true,
          eachMessage: async ({ partition, message }) => {
            m.records.push({
              partition,
              offset: message.offset,
              key: message.key,
              value: message.value,
              headers: message.headers,
              timestamp: message.timestamp,
            });
            if (++total >= count) done();
          },
        }),
      ),
    );
    await finished;
    await hook;
  } finally {
    clearTimeout(timer);
    await Promise.all(ms.map((m) => m.consumer.disconnect()));
  }
  return ms.map(({ records, joins }) => ({ records, joins }));
}

// expectCommitted checks a group's committed offsets (OffsetFetch) and its
// state (DescribeGroups) after its members left.
async function expectCommitted(admin, groupId, topic, want) {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
  expectEqual(
    `fetchOffsets ${groupId} ${topic} (partition, committed offset)`,
    t.partitions.map((p) => [p.partition, p.offset]).sort((a, b) => a[0] - b[0]),
    want,
  );
  const { groups } = await admin.describeGroups([groupId]);
  expectEqual(
    `describeGroups ${groupId} (state, protocol type, members) after its members left`,
    groups.map((g) => [g.groupId, g.state, g.protocolType, g.members.length]),
    [[groupId, "Empty", "consumer", 0]],
  );
}

async function highs(admin, topic) {
  return (await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o.high]).sort((a, b) => a[0] - b[0]);
}

const allPartitions = [...Array(GROUP_PARTITIONS).keys()];

async function group(broker, topic, groupId, statePath) {
  const kafka = client(broker);
  const admin = kafka.admin();
  await admin.connect();
  const pairId = `${groupId}-pair`;
  try {
    expectEqual(
      `createTopics ${topic} with ${GROUP_PARTITIONS} partitions`,
      await admin.createTopics({ topics: [{ topic, numPartitions: GROUP_PARTITIONS, replicationFactor: 1 }], waitForLeaders: true }),
      true,
    );
    const first = await produceGroupBatch(kafka, admin, topic, "first", 24);

    // One member, a new group, fromBeginning: every record, then commits.
    let [m] = await runGroup(kafka, groupId, topic, 1, first.length);
    expectEqual(`consumer group ${groupId}: one member, one join, assigned every partition`, m.joins, [allPartitions]);
    expectRecords(`consumer group ${groupId} fromBeginning reads every record (eachMessage)`, m.records, first);
    await expectCommitted(admin, groupId, topic, await highs(admin, topic));

    // The same group again, still asking fromBeginning: it starts at the
    // committed offsets and gets only what is produced after it joined.
    let second;
    [m] = await runGroup(kafka, groupId, topic, 1, 9, async () => {
      second = await produceGroupBatch(kafka, admin, topic, "second", 9);
    });
    expectRecords(`consumer group ${groupId} run again: only the records produced after it joined, nothing old`, m.records, second);
    const committed = await highs(admin, topic);
    await expectCommitted(admin, groupId, topic, committed);

    // Two members of a new group split the partitions.
    const all = [...first, ...second];
    const pair = await runGroup(kafka, pairId, topic, 2, all.length);
    expectEqual(`consumer group ${pairId}: each member joined once (one generation)`, pair.map((x) => x.joins.length), [1, 1]);
    const assigned = pair.map((x) => x.joins[0].slice().sort((a, b) => a - b));
    if (assigned.some((a) => a.length === 0)) fail(`consumer group ${pairId}: a member was assigned nothing: ${JSON.stringify(assigned)}`);
    expectEqual(
      `consumer group ${pairId}: the two assignments are disjoint and cover every partition`,
      assigned.flat().sort((a, b) => a - b),
      allPartitions,
    );
    pair.forEach((x, i) => {
      const own = new Set(assigned[i]);
      const stray = x.records.filter((r) => !own.has(r.partition));
      if (stray.length) fail(`consumer group ${pairId}: member ${i} (assigned ${assigned[i]}) read ${stray.length} record(s) of other partitions`);
      expectRecords(
        `consumer group ${pairId}: member ${i} reads exactly its partitions ${JSON.stringify(assigned[i])}`,
        x.records,
        all.filter((r) => own.has(r.partition)),
      );
    });
    expectRecords(`consumer group ${pairId}: together every record exactly once`, pair.flatMap((x) => x.records), all);
    await expectCommitted(admin, pairId, topic, committed);

    writeFileSync(`${statePath}.json`, JSON.stringify({ topic, groups: { [groupId]: committed, [pairId]: committed } }, null, 2));
  } finally {
    await admin.disconnect();
  }
}

async function groupCheck(broker, statePath) {
  const { topic, groups } = JSON.parse(readFileSync(`${statePath}.json`, "utf8"));
  const kafka = client(broker);
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const [groupId, committed] of Object.entries(groups)) {
      await expectCommitted(admin, groupId, topic, committed);
    }
    const [groupId] = Object.keys(groups);
    let after;
    const [m] = await runGroup(kafka, groupId, topic, 1, 3, async () => {
      after = await produceGroupBatch(kafka, admin, topic, "after-restart", 3);
    });
    expectRecords(`consumer group ${groupId} after restart: only the records produced after it joined, nothing old`, m.records, after);
    await expectCommitted(admin, groupId, topic, await highs(admin, topic));
  } finally {
    await admin.disconnect();
  }
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === "produce" && args.length === 3) await produce(...args);
  else if (cmd === "check" && args.length === 2) await check(...args);
  else if (cmd === "offsets" && args.length === 4) await offsets(args[0], args[1], Number(args[2]), Number(args[3]));
  else if (cmd === "group" && args.length === 4) await group(...args);
  else if (cmd === "group-check" && args.length === 2) await groupCheck(...args);
  else
    fail(
      "usage: kafkajs.mjs produce BROKER TOPIC STATE | check BROKER STATE | offsets BROKER TOPIC PARTITIONS HIGH" +
        " | group BROKER TOPIC GROUP STATE | group-check BROKER STATE",
    );

  // A response that matches no request means the broker answered
  // something it must not have (an acks=0 produce) or mixed up
  // correlation ids.
  if (unmatched.length) fail(`kafkajs got responses matching no request:\n${unmatched.join("\n")}`);
}

try {
  await main();
} catch (e) {
  console.error(`FAIL kafkajs: ${e.stack ?? e}`);
  process.exit(1);
}
