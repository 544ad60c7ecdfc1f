package io.strata.compat;

import java.time.Duration;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * Compatibility scenario with the Apache Kafka Java client (see ../README.md).
 *
 * <pre>
 * java -cp target/classes:target/lib/* io.strata.compat.Main --bootstrap HOST:PORT --topic T
 *     [--group G] [--count N] [--partitions P] [--group-protocol classic|consumer|share]
 * </pre>
 *
 * <p>With {@code share} the two members are KafkaShareConsumers of a share group (KIP-932) that
 * starts at the earliest offset: each accepts every record it processes and commits the
 * acknowledgements after each poll; what the first one holds unprocessed at close is released to
 * the second.
 */
public final class Main {
  private static final long TIMEOUT_MS = 120_000;
  private static final long IDLE_MS = 20_000;

  private final String bootstrap;
  private final String topic;
  private final String group;
  private final int count;
  private final int partitions;
  private final String groupProtocol;

  // Everything both consumers saw.
  private final BitSet acked = new BitSet();
  private final BitSet seen = new BitSet();
  private long duplicates;
  private long consumed;
  private boolean inOrder = true;
  private final Map<Integer, Long> lastOffset = new HashMap<>();
  private final Map<Integer, Integer> lastSeq = new HashMap<>();

  private Main(Map<String, String> args) {
    bootstrap = require(args, "bootstrap");
    topic = require(args, "topic");
    group = args.getOrDefault("group", topic + "-group");
    count = Integer.parseInt(args.getOrDefault("count", "10000"));
    partitions = Integer.parseInt(args.getOrDefault("partitions", "3"));
    groupProtocol = args.getOrDefault("group-protocol", "classic");
  }

  public static void main(String[] argv) {
    Map<String, String> args = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) {
      args.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
    }
    try {
      System.exit(new Main(args).run() ? 0 : 1);
    } catch (Exception e) {
      System.err.println("java-compat: fatal: " + e);
      e.printStackTrace();
      System.exit(2);
    }
  }

  private static String require(Map<String, String> args, String key) {
    String v = args.get(key);
    if (v == null) {
      throw new IllegalArgumentException("--" + key + " is required");
    }
    return v;
  }

  private boolean run() throws Exception {
    createTopic();
    long produced = produce();
    long first = consume(produced / 2, produced, "first");
    long second = consume(Long.MAX_VALUE, produced, "second");
    BitSet lost = (BitSet) acked.clone();
    lost.andNot(seen);
    long missing = lost.cardinality();
    System.out.printf(
        "{\"client\":\"java\",\"client_version\":\"%s\",\"group_protocol\":\"%s\","
            + "\"produced\":%d,\"consumed\":%d,"
            + "\"first_consumer\":%d,\"second_consumer\":%d,\"duplicates\":%d,\"missing\":%d,"
            + "\"per_partition_in_order\":%b}%n",
        AppInfoParser.getVersion(), groupProtocol, produced, consumed, first, second, duplicates,
        missing, inOrder);
    System.out.flush();
    return produced == count && missing == 0 && duplicates == 0 && inOrder;
  }

  private void createTopic() throws InterruptedException, ExecutionException {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    try (Admin admin = Admin.create(p)) {
      admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
    }
  }

  private long produce() throws InterruptedException {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "60000");
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    AtomicReference<Exception> failure = new AtomicReference<>();
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      for (int i = 0; i < count; i++) {
        final int seq = i;
        producer.send(
            new ProducerRecord<>(topic, "k" + (i % 100), "v" + i),
            (md, err) -> {
              if (err != null) {
                failure.compareAndSet(null, err);
              } else {
                synchronized (acked) {
                  acked.set(seq);
                }
              }
            });
      }
      producer.flush();
    }
    if (failure.get() != null) {
      System.err.println("java-compat: produce failed: " + failure.get());
    }
    synchronized (acked) {
      return acked.cardinality();
    }
  }

  /**
   * One group member: processes records until it has processed {@code want} of them (or until
   * every produced record was seen), committing processed offsets synchronously after each poll.
   */
  private long consume(long want, long produced, String label) throws Exception {
    if (groupProtocol.equals("share")) {
      return consumeShare(want, produced, label);
    }
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, groupProtocol);
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    long processed = 0;
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(TIMEOUT_MS);
    long lastProgress = System.nanoTime();
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
      consumer.subscribe(Set.of(topic));
      while (processed < want && seen.cardinality() < produced) {
        long now = System.nanoTime();
        if (now > deadline || now - lastProgress > TimeUnit.MILLISECONDS.toNanos(IDLE_MS)) {
          System.err.printf("java-compat: %s: giving up after %d records (timeout)%n", label, processed);
          break;
        }
        ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(500));
        if (records.isEmpty()) {
          continue;
        }
        Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
        for (ConsumerRecord<String, String> r : records) {
          record(r);
          processed++;
          commit.put(
              new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
        }
        consumer.commitSync(commit);
        lastProgress = System.nanoTime();
      }
    }
    System.err.printf("java-compat: %s: processed %d%n", label, processed);
    return processed;
  }

  /** One share group member, as {@link #consume} for a classic or consumer group member. */
  private long consumeShare(long want, long produced, String label) throws Exception {
    Properties a = new Properties();
    a.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    try (Admin admin = Admin.create(a)) {
      ConfigResource res = new ConfigResource(ConfigResource.Type.GROUP, group);
      AlterConfigOp earliest =
          new AlterConfigOp(
              new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET);
      admin.incrementalAlterConfigs(Map.of(res, List.of(earliest))).all().get();
    }
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    p.put("share.acknowledgement.mode", "explicit");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    long processed = 0;
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(TIMEOUT_MS);
    long lastProgress = System.nanoTime();
    try (KafkaShareConsumer<String, String> consumer = new KafkaShareConsumer<>(p)) {
      consumer.subscribe(Set.of(topic));
      while (processed < want && seen.cardinality() < produced) {
        long now = System.nanoTime();
        if (now > deadline || now - lastProgress > TimeUnit.MILLISECONDS.toNanos(IDLE_MS)) {
          System.err.printf("java-compat: %s: giving up after %d records (timeout)%n", label, processed);
          break;
        }
        ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(500));
        if (records.isEmpty()) {
          continue;
        }
        for (ConsumerRecord<String, String> r : records) {
          record(r);
          processed++;
          consumer.acknowledge(r, AcknowledgeType.ACCEPT);
        }
        consumer.commitSync();
        lastProgress = System.nanoTime();
      }
    }
    System.err.printf("java-compat: %s: processed %d%n", label, processed);
    return processed;
  }

  private void record(ConsumerRecord<String, String> r) {
    int seq = Integer.parseInt(r.value().substring(1));
    consumed++;
    if (seen.get(seq)) {
      duplicates++;
    } else {
      seen.set(seq);
    }
    Long lo = lastOffset.put(r.partition(), r.offset());
    Integer ls = lastSeq.put(r.partition(), seq);
    if ((lo != null && r.offset() <= lo) || (ls != null && seq <= ls)) {
      inOrder = false;
    }
  }
}
