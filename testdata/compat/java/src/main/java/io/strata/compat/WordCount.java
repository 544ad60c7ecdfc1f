package io.strata.compat;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Kafka Streams word count with {@code processing.guarantee=exactly_once_v2}, run by
 * ingest/compat's TestStreamsExactlyOnce.
 *
 * <pre>
 * java -cp target/classes:target/lib/* io.strata.compat.WordCount --bootstrap HOST:PORT
 *     --input IN --output OUT --app-id ID --state-dir DIR
 * </pre>
 *
 * <p>Lines of {@code IN} are split into words, regrouped by word (through the repartition topic
 * {@code ID-counts-repartition}) and counted in the store {@code counts} (changelog {@code
 * ID-counts-changelog}, compacted); every update goes to {@code OUT} as (word, count as a decimal
 * string). The record cache is off, so each word read yields one output record: with exactly-once
 * the committed output of a word is 1, 2, ... n, each once, however often the program is killed.
 * It runs until killed; it prints "RUNNING" on stdout each time the application reaches that state.
 */
public final class WordCount {
  private WordCount() {}

  public static void main(String[] argv) throws InterruptedException {
    Map<String, String> args = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) {
      args.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
    }
    for (String k : new String[] {"bootstrap", "input", "output", "app-id", "state-dir"}) {
      if (!args.containsKey(k)) {
        System.err.println("WordCount: missing --" + k);
        System.exit(2);
      }
    }

    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, args.get("app-id"));
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args.get("bootstrap"));
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.STATE_DIR_CONFIG, args.get("state-dir"));
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
    // A member killed with SIGKILL leaves the group only when its session ends: keep it short
    // (the broker's minimum) so that the restarted instance is assigned the tasks quickly.
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6000);
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1000);
    // Records go out as they are made, not at commit: a SIGKILL then leaves an open transaction
    // with records in the logs, which the restarted instance's producer must have aborted.
    p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 0);

    StreamsBuilder b = new StreamsBuilder();
    b.stream(args.get("input"), Consumed.with(Serdes.String(), Serdes.String()))
        .flatMapValues(line -> Arrays.asList(line.toLowerCase(Locale.ROOT).split("\\s+")))
        .filter((k, w) -> !w.isEmpty())
        .groupBy((k, w) -> w, Grouped.with("counts", Serdes.String(), Serdes.String()))
        .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("counts"))
        .toStream()
        .mapValues(n -> Long.toString(n))
        .to(args.get("output"), Produced.with(Serdes.String(), Serdes.String()));

    KafkaStreams streams = new KafkaStreams(b.build(), p);
    CountDownLatch dead = new CountDownLatch(1);
    streams.setStateListener(
        (now, before) -> {
          if (now == KafkaStreams.State.RUNNING) {
            System.out.println("RUNNING");
            System.out.flush();
          }
          if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
            dead.countDown();
          }
        });
    streams.setUncaughtExceptionHandler(
        e -> {
          System.err.println("WordCount: stream thread failed: " + e);
          e.printStackTrace();
          return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler
              .StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
    Runtime.getRuntime().addShutdownHook(new Thread(streams::close));
    streams.start();
    dead.await();
    System.err.println("WordCount: streams state " + streams.state());
    System.exit(1);
  }
}
