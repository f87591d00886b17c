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
//
// Reading records back with a kafkajs consumer is not here: kafkajs only
// consumes through consumer groups, which Weir does not have yet (issue 4).
// That part arrives with consumer groups; until then kcat reads back what
// kafkajs wrote.
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

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === "produce" && args.length === 3) await produce(...args);
  else if (cmd === "check" && args.length === 2) await check(...args);
  else if (cmd === "offsets" && args.length === 4) await offsets(args[0], args[1], Number(args[2]), Number(args[3]));
  else fail("usage: kafkajs.mjs produce BROKER TOPIC STATE | check BROKER STATE | offsets BROKER TOPIC PARTITIONS HIGH");

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
