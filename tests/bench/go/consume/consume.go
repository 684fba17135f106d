// Package consume is the consumer loop shared by the two Go benchmark peers of hubfn
// (tests/bench/consume.sh): franzgo (encoding/json, the handler in Go) and gopherlua
// (encoding/json, the handler in Lua). Both consume a topic to its end in a consumer group
// with franz-go's defaults (autocommit every 5 s, cooperative-sticky balancing) and print
// the accounting the driver parses:
//
//	start                      at the first record
//	realized R events N        once every partition reached its end
//
// The end of a partition is its high watermark listed at start (ListOffsets, latest): the
// loop ends when every partition that holds records was consumed up to it. Then it commits
// what it consumed, as a consumer that stops does, and leaves the group. Errors: one line
// on stderr, exit 1.
package consume

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// BatchSize is the largest batch handed to the handler: hubfn's maxEventBatchSize default.
const BatchSize = 100

// Handler gets the records of one partition from one poll, at most BatchSize of them, and
// returns how many realized audiences they hold.
type Handler func(partition int32, records []*kgo.Record) (int, error)

func fail(name, what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %s: %v\n", name, what, err)
	os.Exit(1)
}

// endOffsets returns the high watermark of every partition of topic that holds records.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, err
	}
	ends := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			ends[o.Partition] = o.Offset
		}
	})
	if len(ends) == 0 {
		return nil, fmt.Errorf("topic %s: no partition holds records", topic)
	}
	return ends, nil
}

// mockVersions caps two request versions for the mock broker (librdkafka 2.0's mock
// cluster, HF_BENCH_MOCK_BROKER=1): it answers ApiVersions v3 with a response franz-go
// cannot read, and writes ListOffsets v4+ answers with an 8-byte leader epoch where the
// protocol has 4 bytes, which garbles every partition after the first. Both requests are
// only sent at startup; every other request uses the newest version both sides support.
func mockVersions() *kversion.Versions {
	v := kversion.Stable()
	v.SetMaxKeyVersion(int16(kmsg.ApiVersions), 2)
	v.SetMaxKeyVersion(int16(kmsg.ListOffsets), 3)
	return v
}

// Run consumes TOPIC from BOOTSTRAP in GROUP (os.Args[1:4]) to its end, calling handle per
// batch. name prefixes error messages and the client id.
func Run(name string, handle Handler) {
	if len(os.Args) < 4 {
		fmt.Fprintf(os.Stderr, "usage: %s BOOTSTRAP TOPIC GROUP ...\n", name)
		os.Exit(2)
	}
	bootstrap, topic, group := os.Args[1], os.Args[2], os.Args[3]
	ctx := context.Background()
	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(bootstrap, ",")...),
		kgo.ClientID("hubfn-bench-" + name),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		// auto.offset.reset=earliest: a fresh group starts at each partition's log start.
		kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()),
	}
	if os.Getenv("HF_BENCH_MOCK_BROKER") == "1" {
		opts = append(opts, kgo.MaxVersions(mockVersions()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		fail(name, "client", err)
	}
	pending, err := endOffsets(ctx, cl, topic)
	if err != nil {
		fail(name, "listing end offsets", err)
	}
	realized, events := 0, 0
	for len(pending) > 0 {
		fetches := cl.PollFetches(ctx)
		for _, fe := range fetches.Errors() {
			fail(name, fmt.Sprintf("fetch %s[%d]", fe.Topic, fe.Partition), fe.Err)
		}
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			recs := p.Records
			if len(recs) == 0 {
				return
			}
			for i := 0; i < len(recs); i += BatchSize {
				batch := recs[i:min(i+BatchSize, len(recs))]
				if events == 0 {
					fmt.Println("start")
				}
				r, err := handle(p.Partition, batch)
				if err != nil {
					fail(name, "handler", err)
				}
				realized += r
				events += len(batch)
			}
			if end, ok := pending[p.Partition]; ok && recs[len(recs)-1].Offset+1 >= end {
				delete(pending, p.Partition)
			}
		})
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		fail(name, "commit", err)
	}
	fmt.Printf("realized %d events %d\n", realized, events)
	cl.Close()
}
