package io.imskms.audit;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * Settings of one node's audit log (configuration keys {@code audit.*}, docs/configuration.md).
 *
 * @param dir the log directory (segments, checkpoints)
 * @param origin the checkpoint origin, also the signing key's name (one per node)
 * @param node the node name written into every record
 * @param batchMaxRecords at most this many records share one fsync
 * @param batchDelay how long the writer waits for more records after the first of a batch
 *     (0: take what queued up during the previous fsync)
 * @param queueLimit records waiting for the writer; one more is refused (AUDIT_UNAVAILABLE)
 * @param segmentMaxBytes rotate the segment when it reaches this size
 * @param segmentMaxAge rotate the segment when its first record is this old
 * @param retention delete whole closed segments older than this (ZERO: keep everything)
 * @param checkpointInterval sign a checkpoint this often while records arrive
 */
public record AuditLogOptions(Path dir, String origin, String node, int batchMaxRecords,
    Duration batchDelay, int queueLimit, long segmentMaxBytes, Duration segmentMaxAge,
    Duration retention, Duration checkpointInterval) {

  public AuditLogOptions {
    Objects.requireNonNull(dir, "dir");
    VerifierKey.checkName(origin);
    if (node == null || node.isBlank()) {
      throw new IllegalArgumentException("node is a non-empty name");
    }
    if (batchMaxRecords < 1 || queueLimit < 1 || segmentMaxBytes < 4096) {
      throw new IllegalArgumentException("batchMaxRecords, queueLimit >= 1, segmentMaxBytes >= 4096");
    }
    if (batchDelay.isNegative() || segmentMaxAge.isNegative() || segmentMaxAge.isZero()
        || retention.isNegative() || checkpointInterval.isNegative()
        || checkpointInterval.isZero()) {
      throw new IllegalArgumentException("durations must be positive (batchDelay, retention >= 0)");
    }
  }

  /**
   * Defaults: batches of at most 4096 records with no extra wait (a batch is what queued during
   * the previous write and fsync; docs/performance.md, "Second round"), 64 MiB / 24 h segments,
   * keep all, 1 s checkpoints.
   */
  public static AuditLogOptions defaults(Path dir, String origin, String node) {
    return new AuditLogOptions(dir, origin, node, 4096, Duration.ZERO, 100_000,
        64L << 20, Duration.ofHours(24), Duration.ZERO, Duration.ofSeconds(1));
  }

  public AuditLogOptions withBatch(int maxRecords, Duration delay) {
    return new AuditLogOptions(dir, origin, node, maxRecords, delay, queueLimit, segmentMaxBytes,
        segmentMaxAge, retention, checkpointInterval);
  }

  public AuditLogOptions withSegments(long maxBytes, Duration maxAge, Duration keep) {
    return new AuditLogOptions(dir, origin, node, batchMaxRecords, batchDelay, queueLimit, maxBytes,
        maxAge, keep, checkpointInterval);
  }

  public AuditLogOptions withCheckpointInterval(Duration d) {
    return new AuditLogOptions(dir, origin, node, batchMaxRecords, batchDelay, queueLimit,
        segmentMaxBytes, segmentMaxAge, retention, d);
  }
}
