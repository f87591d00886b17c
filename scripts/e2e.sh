#!/usr/bin/env bash
# End-to-end test: builds the real `weir` binary, starts `weir serve` on a
# fresh data directory and drives it with unmodified Kafka clients — kcat
# (librdkafka) and kafkajs (e2e/kafkajs.mjs) — then stops it with SIGTERM,
# restarts it on the same data directory and checks that everything is
# still there. Needs kcat, node and e2e/node_modules: scripts/deps.sh
# installs them (`make e2e` runs both).
#
# What it covers:
#   kcat      produce with keys (-K:) and headers (-H) with every codec
#             librdkafka has (none, gzip, snappy, lz4, zstd) to a topic that
#             Metadata auto-creates; consume back from the beginning, from
#             an offset, from the end, and by timestamp, and compare
#             exactly; ListOffsets by timestamp, earliest and latest (-Q);
#             5,000 records in many batches; metadata (-L).
#   kafkajs   Metadata without auto-creation; CreateTopics when the broker
#             offers it; a producer with acks -1, 1 and 0 and a gzip batch,
#             sending keyed records with headers, null keys and null
#             values, read back with kcat and compared exactly (keys,
#             values, headers, timestamps); the admin client's offsets and
#             offsets by timestamp; metadata.
#   groups    consumer groups, classic protocol, on 3-partition topics.
#             kcat -G: two members started together split the partitions
#             and read every record exactly once, committing (auto commit,
#             and on close); one member run again after more records were
#             produced reads only those; `weir group describe` shows the
#             group with every partition committed at its log end, lag 0.
#             kafkajs (e2e/kafkajs.mjs group): a consumer subscribed
#             fromBeginning reads every record (eachMessage) and commits; the
#             same group run again reads only newer records; two consumers
#             of one group get disjoint partitions and together every record
#             exactly once.
#   restart   SIGTERM exits 0 after "clean shutdown complete"; the next
#             start reports clean_shutdown=true, advertises its new address
#             and serves every record again to both clients; every group's
#             committed offsets are what `weir group describe` showed before
#             the restart, and members started again read nothing old.
#
# On failure it prints the broker's log tail and exits non-zero. The broker
# is always killed and the temporary directory removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in kcat node timeout; do
	command -v "$tool" >/dev/null 2>&1 || { echo "e2e: $tool not found; run scripts/deps.sh" >&2; exit 1; }
done
[ -d e2e/node_modules/kafkajs ] || { echo "e2e: kafkajs not installed; run scripts/deps.sh" >&2; exit 1; }

started=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/weir-e2e.XXXXXX")
data=$work/data
broker_pid=
broker_log=
members= # kcat -G members running in the background
run=0

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in $members; do
		kill "$pid" 2>/dev/null || true
	done
	if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
		kill -KILL "$broker_pid" 2>/dev/null || true
		wait "$broker_pid" 2>/dev/null || true
	fi
	if [ "$rc" -ne 0 ]; then
		echo "FAIL e2e (exit $rc)" >&2
		for f in "$work"/broker-*.log; do
			[ -f "$f" ] || continue
			echo "---- tail of $(basename "$f") ----" >&2
			tail -n 40 "$f" >&2
		done
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() { echo "ok   $*"; }
die() { echo "FAIL $*" >&2; exit 1; }

# expect_same NAME WANT GOT: the two files are byte for byte the same.
expect_same() {
	if cmp -s "$2" "$3"; then
		ok "$1 ($(wc -l <"$3") lines)"
	else
		echo "FAIL $1: want (-) got (+)" >&2
		diff -u "$2" "$3" | head -n 40 | cut -c1-300 >&2
		exit 1
	fi
}

# Every client call is bounded: a broker that never answers fails the run
# instead of hanging it.
kc() { timeout 30 kcat -b "$addr" "$@"; }
js() { timeout 60 node e2e/kafkajs.mjs "$@"; }
weir() { timeout 30 "$work/weir" "$@" --brokers "$addr" --timeout 10s; }

echo "e2e: building weir"
go build -o "$work/weir" ./cmd/weir

# start_broker starts `weir serve` on $data and waits for its start-up line.
# The Kafka port is 0: the kernel picks a free one, so two runs (or anything
# else on the machine) never collide, and the real address is read from the
# start-up line's kafka_addr. Sets broker_pid, broker_log and addr.
start_broker() {
	run=$((run + 1))
	broker_log=$work/broker-$run.log
	"$work/weir" serve --data-dir "$data" --kafka-addr 127.0.0.1:0 \
		--controller-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 >"$broker_log" 2>&1 &
	broker_pid=$!
	local line=
	for _ in $(seq 150); do # 15 s
		line=$(grep -m1 'msg="weir node started"' "$broker_log" || true)
		[ -n "$line" ] && break
		kill -0 "$broker_pid" 2>/dev/null || die "weir serve exited before its start-up line"
		sleep 0.1
	done
	[ -n "$line" ] || die "weir serve printed no start-up line within 15s"
	addr=$(sed -nE 's/.* kafka_addr=([^ ]+).*/\1/p' <<<"$line")
	[ -n "$addr" ] || die "no kafka_addr in the start-up line: $line"
	start_line=$line
	ok "broker started (run $run, pid $broker_pid, kafka_addr=$addr)"
}

# stop_broker sends SIGTERM and checks for a clean exit.
stop_broker() {
	kill -TERM "$broker_pid"
	local rc=0
	# The broker must finish within 15 s; the watchdog kills it otherwise.
	(sleep 15 && kill -KILL "$broker_pid" 2>/dev/null) &
	local watchdog=$!
	wait "$broker_pid" || rc=$?
	kill "$watchdog" 2>/dev/null || true
	wait "$watchdog" 2>/dev/null || true
	broker_pid=
	[ "$rc" -eq 0 ] || die "weir serve exited $rc after SIGTERM, want 0"
	grep -q 'msg="clean shutdown complete"' "$broker_log" || die "no \"clean shutdown complete\" in the log after SIGTERM"
	ok "SIGTERM: exit 0, clean shutdown complete"
}

# partitions_of TOPIC: the partition count the broker logged when it
# auto-created TOPIC.
partitions_of() {
	sed -nE "s/.*msg=\"auto-created topic\" topic=$1 partitions=([0-9]+).*/\1/p" "$work"/broker-*.log | head -n1
}

# group_produce FROM TO WANT: kcat produces the records at offsets FROM..TO
# of each partition of $group_topic, keyed; WANT gets the lines a member
# prints for them ("partition offset key value"), in partition and offset
# order.
group_produce() {
	local p
	: >"$3"
	for p in 0 1 2; do
		seq "$1" "$2" | awk -v p="$p" '{ printf "g%d-%d:value %d of partition %d\n", p, $1, $1, p }' |
			kc -P -t "$group_topic" -p "$p" -K:
		seq "$1" "$2" | awk -v p="$p" '{ printf "%d %d g%d-%d value %d of partition %d\n", p, $1, p, $1, $1, p }' >>"$3"
	done
}

# kcat_member N: member N, a kcat -G member of $kcat_group reading
# $group_topic until every partition it was assigned is at its end (-e);
# the records to member-N.txt, kcat's log to member-N.log. It commits
# every 100 ms and on close. No -o: with -G, kcat's -o overrides the
# committed offsets; auto.offset.reset applies only to a partition without
# one. It execs timeout: run it in the background (the pid is then
# timeout's, which passes a TERM on to kcat) or in a subshell.
kcat_member() {
	exec timeout 30 kcat -b "$addr" -G "$kcat_group" -X enable.auto.commit=true -X auto.commit.interval.ms=100 \
		-X auto.offset.reset=earliest -e -f '%p %o %k %s\n' "$group_topic" \
		>"$work/member-$1.txt" 2>"$work/member-$1.log"
}
member_log() { printf '\n---- kcat -G member %s log ----\n%s' "$1" "$(tail -n 20 "$work/member-$1.log")"; }
member_failed() { die "kcat -G member $1 exited $2$(member_log "$1")"; }

# describe_group GROUP TOPIC OUT: `weir group describe GROUP` shows the
# group Empty (its members left), consumer protocol type, and for each of
# TOPIC's 3 partitions a committed offset equal to the log end, lag 0,
# total lag 0. OUT gets the partition rows "topic partition committed
# log-end lag" (compared across the restart).
describe_group() {
	local d=$work/describe.txt
	weir group describe "$1" >"$d" 2>&1 || die "weir group describe $1 failed:$(printf '\n%s' "$(cat "$d")")"
	awk -v t="$2" '$1 == t && NF >= 5 { print $1, $2, $3, $4, $5 }' "$d" >"$3"
	if ! grep -qE '^  State: Empty  Protocol type: consumer ' "$d" || ! grep -qx '  Total lag: 0' "$d" ||
		! awk '!($2 == NR - 1 && $3 == $4 && $3 > 0 && $5 == 0) { bad = 1 } END { exit !(NR == 3 && !bad) }' "$3"; then
		die "weir group describe $1: want Empty, consumer, $2 partitions 0-2 committed at their log end, lag 0:$(printf '\n%s' "$(cat "$d")")"
	fi
	ok "weir group describe $1: Empty, $2 partitions 0-2 committed at $(cut -d' ' -f3 "$3" | paste -sd/) = log end, total lag 0"
}

kcat_topic=e2e-kcat
bulk_topic=e2e-kcat-bulk
kafkajs_topic=e2e-kafkajs
codecs="none gzip snappy lz4 zstd"
group_topic=e2e-kcat-group     # 3 partitions, read by kcat -G members
kcat_group=e2e-kcat-group
kafkajs_group_topic=e2e-kafkajs-group
kafkajs_group=e2e-kafkajs-group # e2e/kafkajs.mjs adds $kafkajs_group-pair

# kcat_consume_all writes what kcat reads from the beginning of each topic.
kcat_consume_all() {
	local dir=$1
	mkdir -p "$dir"
	kc -C -t "$kcat_topic" -e -q -o beginning -f '%k %s %h\n' >"$dir/kcat.txt"
	kc -C -t "$bulk_topic" -e -q -o beginning -f '%p %o %k %s\n' >"$dir/bulk.txt"
	kc -C -t "$kafkajs_topic" -e -q -o beginning -Z -f '%p|%o|%k|%s|%h|%T\n' |
		sort -t'|' -k1,1n -k2,2n >"$dir/kafkajs.txt"
}

start_broker
first_addr=$addr

echo "e2e: kcat"
# Two records per codec, each codec its own kcat process (so its own
# batches with their own timestamps), all to partition 0.
: >"$work/want-kcat.txt"
for z in $codecs; do
	printf 'key-%s-1:first value %s\nkey-%s-2:second value, %s\n' "$z" "$z" "$z" "$z" |
		kc -P -t "$kcat_topic" -p 0 -K: -z "$z" -H "codec=$z" -H "trace=e2e"
	printf 'key-%s-1 first value %s codec=%s,trace=e2e\nkey-%s-2 second value, %s codec=%s,trace=e2e\n' \
		"$z" "$z" "$z" "$z" "$z" "$z" >>"$work/want-kcat.txt"
done
ok "kcat -P -K: -H with -z none, gzip, snappy, lz4, zstd"
kcat_partitions=$(partitions_of "$kcat_topic")
[ -n "$kcat_partitions" ] || die "the broker did not log auto-creating $kcat_topic"
ok "kcat -P auto-created $kcat_topic with $kcat_partitions partition(s)"

kc -C -t "$kcat_topic" -e -q -o beginning -f '%k %s %h\n' >"$work/got-kcat.txt"
expect_same "kcat -C -o beginning: keys, values, headers" "$work/want-kcat.txt" "$work/got-kcat.txt"

kc -C -t "$kcat_topic" -e -q -o 5 -f '%k %s %h\n' >"$work/got.txt"
tail -n +6 "$work/want-kcat.txt" >"$work/want.txt"
expect_same "kcat -C -o 5" "$work/want.txt" "$work/got.txt"

kc -C -t "$kcat_topic" -e -q -o -3 -f '%k %s %h\n' >"$work/got.txt"
tail -n 3 "$work/want-kcat.txt" >"$work/want.txt"
expect_same "kcat -C -o -3 (from the end)" "$work/want.txt" "$work/got.txt"

# By timestamp: the records' own timestamps give the expected answers —
# the first offset whose timestamp is at or after the target.
kc -C -t "$kcat_topic" -e -q -o beginning -f '%o %T\n' >"$work/ts.txt"
[ "$(wc -l <"$work/ts.txt")" -eq 10 ] || die "kcat -C: want 10 records with timestamps, got $(wc -l <"$work/ts.txt")"
first_at() { awk -v t="$1" '$2 >= t { print $1; found = 1; exit } END { if (!found) print -1 }' "$work/ts.txt"; }
for o in 4 7; do
	ts=$(awk -v o="$o" '$1 == o { print $2 }' "$work/ts.txt")
	for target in "$ts" "$((ts + 1))"; do
		want_off=$(first_at "$target")
		kc -C -t "$kcat_topic" -e -q -o "s@$target" -f '%o\n' >"$work/got.txt"
		if [ "$want_off" -ge 0 ]; then seq "$want_off" 9 >"$work/want.txt"; else : >"$work/want.txt"; fi
		expect_same "kcat -C -o s@$target (offset $o's timestamp$([ "$target" = "$ts" ] || echo ' + 1 ms'))" \
			"$work/want.txt" "$work/got.txt"
		got_q=$(kc -Q -t "$kcat_topic:0:$target")
		[ "$got_q" = "$kcat_topic [0] offset $want_off" ] ||
			die "kcat -Q $kcat_topic:0:$target (ListOffsets by timestamp): got '$got_q', want offset $want_off"
		ok "kcat -Q $kcat_topic:0:$target: offset $want_off"
	done
done
last_ts=$(awk 'END { print $2 }' "$work/ts.txt")
for q in "-2 0 earliest" "-1 10 latest" "$((last_ts + 1)) -1 past-the-last-timestamp"; do
	read -r t want_off what <<<"$q"
	got_q=$(kc -Q -t "$kcat_topic:0:$t")
	[ "$got_q" = "$kcat_topic [0] offset $want_off" ] ||
		die "kcat -Q $kcat_topic:0:$t ($what): got '$got_q', want offset $want_off"
	ok "kcat -Q $kcat_topic:0:$t ($what): offset $want_off"
done

# Many records in many batches: 1,000 per codec, all to partition 0.
: >"$work/want-bulk.txt"
n=0
for z in $codecs; do
	seq "$n" $((n + 999)) | awk -v z="$z" '{ printf "bulk-%d:%s record %d %s\n", $1, z, $1, "payload-payload-payload-payload" }' |
		kc -P -t "$bulk_topic" -p 0 -K: -z "$z" -X linger.ms=5 -X batch.num.messages=100
	seq "$n" $((n + 999)) | awk -v z="$z" '{ printf "0 %d bulk-%d %s record %d %s\n", $1, $1, z, $1, "payload-payload-payload-payload" }' \
		>>"$work/want-bulk.txt"
	n=$((n + 1000))
done
kc -C -t "$bulk_topic" -e -q -o beginning -f '%p %o %k %s\n' >"$work/got-bulk.txt"
expect_same "kcat 5,000 records in batches of up to 100, every codec" "$work/want-bulk.txt" "$work/got-bulk.txt"

kc -L >"$work/meta.txt"
grep -qF "broker 1 at $addr" "$work/meta.txt" || die "kcat -L: broker 1 at $addr missing:$(printf '\n%s' "$(cat "$work/meta.txt")")"
for t in "$kcat_topic" "$bulk_topic"; do
	grep -qF "topic \"$t\" with $(partitions_of "$t") partitions:" "$work/meta.txt" ||
		die "kcat -L: topic \"$t\" with $(partitions_of "$t") partitions missing:$(printf '\n%s' "$(cat "$work/meta.txt")")"
done
grep -qE '^    partition 0, leader 1, replicas: 1, isrs: 1$' "$work/meta.txt" ||
	die "kcat -L: partition 0 with leader 1, replicas 1, isrs 1 missing"
ok "kcat -L: broker $addr, $kcat_topic and $bulk_topic with their partitions"

echo "e2e: kafkajs"
js produce "$addr" "$kafkajs_topic" "$work/kafkajs"
kc -C -t "$kafkajs_topic" -e -q -o beginning -Z -f '%p|%o|%k|%s|%h|%T\n' |
	sort -t'|' -k1,1n -k2,2n >"$work/got-kafkajs.txt"
expect_same "kcat reads back what kafkajs produced (keys, values, nulls, headers, timestamps)" \
	"$work/kafkajs.kcat" "$work/got-kafkajs.txt"
js offsets "$addr" "$kcat_topic" "$kcat_partitions" 10

echo "e2e: consumer groups (kcat -G)"
weir topic create "$group_topic" --partitions 3 >/dev/null
ok "weir topic create $group_topic --partitions 3"
# Two members started together: the group's first join waits
# group.initial.rebalance.delay.ms for more members, so both join the
# same generation and split the 3 partitions (2 + 1).
group_produce 0 9 "$work/want-group-1.txt"
ok "kcat -P 10 records to each partition of $group_topic"
kcat_member 1 &
m1=$!
kcat_member 2 &
m2=$!
members="$m1 $m2"
wait "$m1" || member_failed 1 $?
wait "$m2" || member_failed 2 $?
members=
for i in 1 2; do
	[ -s "$work/member-$i.txt" ] || die "kcat -G member $i read nothing: the two members did not split the partitions$(member_log "$i")"
	cut -d' ' -f1 "$work/member-$i.txt" | sort -u >"$work/member-$i.partitions"
done
[ -z "$(comm -12 "$work/member-1.partitions" "$work/member-2.partitions")" ] ||
	die "kcat -G: both members read partition(s) $(comm -12 "$work/member-1.partitions" "$work/member-2.partitions" | paste -sd,)$(member_log 1)$(member_log 2)"
ok "kcat -G: two concurrent members read disjoint partitions ($(paste -sd, "$work/member-1.partitions") and $(paste -sd, "$work/member-2.partitions"))"
sort -k1,1n -k2,2n "$work/member-1.txt" "$work/member-2.txt" >"$work/got.txt"
expect_same "kcat -G: together the two members read every record exactly once" "$work/want-group-1.txt" "$work/got.txt"

# More records, one member again: it starts at the offsets the two
# committed, so it reads only the new records.
group_produce 10 12 "$work/want-group-2.txt"
(kcat_member 3) || member_failed 3 $?
sort -k1,1n -k2,2n "$work/member-3.txt" >"$work/got.txt"
expect_same "kcat -G: one member run again reads only the records produced since, from the committed offsets" \
	"$work/want-group-2.txt" "$work/got.txt"
describe_group "$kcat_group" "$group_topic" "$work/describe-$kcat_group.txt"
for p in 0 1 2; do echo "$group_topic $p 13 13 0"; done >"$work/want.txt"
expect_same "weir group describe $kcat_group: committed offsets 13 = log end" "$work/want.txt" "$work/describe-$kcat_group.txt"

echo "e2e: consumer groups (kafkajs)"
js group "$addr" "$kafkajs_group_topic" "$kafkajs_group" "$work/kafkajs-group"
for g in "$kafkajs_group" "$kafkajs_group-pair"; do
	describe_group "$g" "$kafkajs_group_topic" "$work/describe-$g.txt"
done

echo "e2e: restart"
stop_broker
start_broker
grep -q 'clean_shutdown=true' <<<"$start_line" || die "restart: start-up line does not say clean_shutdown=true: $start_line"
ok "restart on the same data dir: clean_shutdown=true (kafka_addr $first_addr -> $addr)"
kcat_consume_all "$work/after"
expect_same "after restart: kcat topic" "$work/want-kcat.txt" "$work/after/kcat.txt"
expect_same "after restart: bulk topic" "$work/want-bulk.txt" "$work/after/bulk.txt"
expect_same "after restart: kafkajs topic" "$work/kafkajs.kcat" "$work/after/kafkajs.txt"
kc -L >"$work/meta.txt"
grep -qF "broker 1 at $addr" "$work/meta.txt" ||
	die "kcat -L after restart: want broker 1 at the new address $addr:$(printf '\n%s' "$(cat "$work/meta.txt")")"
for t in "$kcat_topic" "$bulk_topic" "$kafkajs_topic"; do
	grep -qF "topic \"$t\" with" "$work/meta.txt" || die "kcat -L after restart: topic $t missing"
done
ok "kcat -L after restart: new address, all three topics"
js check "$addr" "$work/kafkajs"
js offsets "$addr" "$kcat_topic" "$kcat_partitions" 10
weir group list >"$work/groups.txt"
for g in "$kcat_group" "$kafkajs_group" "$kafkajs_group-pair"; do
	grep -qE "^$g +Empty +consumer " "$work/groups.txt" ||
		die "weir group list after restart: $g (Empty, consumer) missing:$(printf '\n%s' "$(cat "$work/groups.txt")")"
done
ok "weir group list after restart: all three groups, Empty"
for g in "$kcat_group:$group_topic" "$kafkajs_group:$kafkajs_group_topic" "$kafkajs_group-pair:$kafkajs_group_topic"; do
	describe_group "${g%%:*}" "${g#*:}" "$work/after/describe-${g%%:*}.txt"
	expect_same "after restart: ${g%%:*}'s committed offsets as before (weir group describe)" \
		"$work/describe-${g%%:*}.txt" "$work/after/describe-${g%%:*}.txt"
done
(kcat_member 4) || member_failed 4 $?
[ ! -s "$work/member-4.txt" ] || die "kcat -G member after restart read old records:$(printf '\n%s' "$(head "$work/member-4.txt")")"
ok "after restart: a kcat -G member of $kcat_group reads nothing old"
describe_group "$kcat_group" "$group_topic" "$work/got.txt"
expect_same "after restart: $kcat_group still committed at the log end" "$work/describe-$kcat_group.txt" "$work/got.txt"
js group-check "$addr" "$work/kafkajs-group"
stop_broker

# Anything the broker logged above INFO is shown; an ERROR fails the run.
if grep -hE 'level=(WARN|ERROR)' "$work"/broker-*.log; then
	grep -qh 'level=ERROR' "$work"/broker-*.log && die "the broker logged errors (above)"
fi
echo "e2e: all checks passed in $(($(date +%s) - started))s"
