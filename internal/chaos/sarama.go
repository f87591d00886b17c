package chaos

import (
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// SaramaConfig returns the sarama configuration the harness's sarama
// clients use: Kafka 2.8 protocol, short timeouts and backoffs so that
// leader changes are followed within a second or two.
func SaramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "weir-chaos"
	cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = 2*time.Second, 10*time.Second, 5*time.Second
	cfg.Metadata.Retry.Max = 10
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 250 * time.Millisecond
	cfg.Consumer.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Retry.Max = 100
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	return cfg
}

// StartSaramaConsumer starts a sarama consumer of every partition of
// topic from offset 0. sarama's partition consumer follows leader changes
// itself; if it gives a partition up (it does on OFFSET_OUT_OF_RANGE),
// the harness starts it again from the next offset it has not seen and
// counts that as an error. It returns an error if the client cannot be
// created or a partition cannot be subscribed.
func StartSaramaConsumer(seeds []string, topic string, partitions int32) (*Consumer, error) {
	client, err := sarama.NewClient(seeds, SaramaConfig())
	if err != nil {
		return nil, fmt.Errorf("sarama client: %w", err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("sarama consumer: %w", err)
	}
	c := newConsumer("sarama")
	stopCh := make(chan struct{})
	var wg sync.WaitGroup
	for p := range partitions {
		pc, err := consumer.ConsumePartition(topic, p, 0)
		if err != nil {
			close(stopCh)
			wg.Wait()
			consumer.Close()
			client.Close()
			return nil, fmt.Errorf("sarama: consuming %s-%d: %w", topic, p, err)
		}
		wg.Go(func() { c.saramaPartition(consumer, topic, p, pc, stopCh) })
	}
	c.stop = func() {
		close(stopCh)
		wg.Wait()
		consumer.Close()
		client.Close()
	}
	return c, nil
}

// saramaPartition records what pc delivers until stopCh closes,
// re-subscribing from the next unseen offset whenever sarama gives up.
func (c *Consumer) saramaPartition(consumer sarama.Consumer, topic string, p int32, pc sarama.PartitionConsumer, stopCh chan struct{}) {
	for {
		msgs, errs := pc.Messages(), pc.Errors()
		for msgs != nil || errs != nil {
			select {
			case <-stopCh:
				pc.AsyncClose()
				drain(msgs)
				drain(errs)
				return
			case m, ok := <-msgs:
				if !ok {
					msgs = nil
					continue
				}
				c.saw(RecordOf(m.Partition, m.Offset, m.Value))
			case e, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				c.failed(fmt.Errorf("partition %d: %w", p, e.Err))
			}
		}
		// sarama closed the partition consumer on its own.
		_ = pc.Close()
		c.failed(fmt.Errorf("partition %d: sarama gave the partition up; subscribed again", p))
		for {
			select {
			case <-stopCh:
				return
			case <-time.After(200 * time.Millisecond):
			}
			c.mu.Lock()
			next := c.mu.next[p]
			c.mu.Unlock()
			var err error
			if pc, err = consumer.ConsumePartition(topic, p, next); err == nil {
				break
			}
			c.failed(fmt.Errorf("partition %d: subscribing again at %d: %w", p, next, err))
		}
	}
}

// drain reads ch until it is closed; a nil ch is already drained.
func drain[T any](ch <-chan T) {
	if ch == nil {
		return
	}
	for range ch {
	}
}
