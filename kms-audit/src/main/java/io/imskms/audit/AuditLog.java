package io.imskms.audit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One node's audit log: an append-only sequence of canonical records (the leaves of an RFC 9162
 * Merkle tree) in rotating segment files, with C2SP checkpoints signed by a
 * {@link CheckpointSigner}.
 *
 * <p>Security guarantees: the future returned by {@link #append} completes normally only after the
 * record and every record before it have been written and fsynced; it completes with
 * {@link AuditUnavailableException} if that failed, and then nothing of the batch stays in the
 * file. A checkpoint only ever covers fsynced records. Records are never rewritten.
 *
 * <p>Group commit: one writer thread takes the first waiting record, everything else waiting (at
 * most {@code batchMaxRecords}), optionally waits {@code batchDelay} for more, writes the batch
 * and fsyncs once. After a failed write or fsync the writer cuts the file back to its last durable
 * size, reopens it on the next batch (or every second when idle) and, once a write succeeds again,
 * records the outage ({@code audit.fault}) before anything else: writing resumes by itself.
 */
public final class AuditLog implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(AuditLog.class);
  private static final long PROBE_NANOS = TimeUnit.SECONDS.toNanos(1);

  private record Pending(AuditEvent event, CompletableFuture<AuditRecord> done) {}

  private final AuditLogOptions o;
  private final CheckpointSigner signer;
  private final Storage storage;
  private final Clock clock;
  private final LinkedBlockingQueue<Pending> queue;
  private final Thread writer;
  private final Object closeLock = new Object();
  private volatile boolean closing;
  private volatile boolean closed;
  private volatile boolean healthy = true;
  private volatile String latestNote;
  private volatile long durableSize;

  // Writer-thread state.
  private Storage.Appender seg;
  private Storage.Appender cps;
  private long segFirst;
  private long segBytes;
  private Instant segStarted;
  private Merkle.Frontier frontier;
  private String prev;
  private long nextSeq;
  private long checkpointedSize;
  private long nextCheckpointNanos;
  private long nextProbeNanos;
  private Instant faultSince;
  private String faultCause;
  private long refused;
  private boolean signingFailing;
  private final List<AuditEvent> internal = new ArrayList<>();

  private AuditLog(AuditLogOptions o, CheckpointSigner signer, Storage storage, Clock clock) {
    this.o = o;
    this.signer = signer;
    this.storage = storage;
    this.clock = clock;
    this.queue = new LinkedBlockingQueue<>(o.queueLimit());
    this.writer = new Thread(this::run, "audit-writer");
    this.writer.setDaemon(false);
  }

  /**
   * Opens (or creates) the log in {@code options.dir()}: checks the directory is writable, checks
   * the records against the last checkpoint, cuts a torn last line (recording the repair), and
   * starts the writer.
   *
   * @throws AuditStartException the directory is not writable, the records do not match the last
   *     checkpoint, or the signer's key is not the one that signed it
   */
  public static AuditLog open(AuditLogOptions options, CheckpointSigner signer)
      throws AuditStartException {
    return open(options, signer, Storage.FILES, Clock.systemUTC());
  }

  static AuditLog open(AuditLogOptions options, CheckpointSigner signer, Storage storage,
      Clock clock) throws AuditStartException {
    if (!signer.name().equals(options.origin())) {
      throw new AuditStartException("the checkpoint key's name '" + signer.name()
          + "' is not the log's origin '" + options.origin() + "'");
    }
    AuditLog log = new AuditLog(options, signer, storage, clock);
    log.recover();
    log.writer.start();
    return log;
  }

  // ------------------------------------------------------------------ start-up

  private void recover() throws AuditStartException {
    Path dir = o.dir();
    try {
      Files.createDirectories(dir);
      Path probe = dir.resolve(".write-probe");
      try (FileChannel ch = FileChannel.open(probe, StandardOpenOption.CREATE,
          StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
        ch.write(ByteBuffer.wrap(new byte[] {1}));
        ch.force(true);
      }
      Files.delete(probe);
    } catch (IOException | RuntimeException e) {
      throw new AuditStartException("audit directory " + dir + " is not writable: " + e, e);
    }
    VerifierKey own = VerifierKey.of(signer.name(), signer.publicKey());
    try {
      List<LogFiles.Segment> segs = LogFiles.segments(dir);
      if (segs.isEmpty()) {
        segs = List.of(new LogFiles.Segment(0, LogFiles.segmentFile(dir, 0)));
        Files.write(segs.get(0).file(), new byte[0]);
        fsyncDir();
      }
      LogFiles.Segment first = segs.get(0);
      frontier = first.first() == 0 ? new Merkle.Frontier() : LogFiles.readFrontier(first.frontier());
      if (frontier.size() != first.first()) {
        throw new AuditStartException("frontier of " + first.file().getFileName()
            + " does not match its first index");
      }
      Checkpoint last = null;
      for (int i = segs.size() - 1; i >= 0 && last == null; i--) {
        List<LogFiles.NoteLine> notes = LogFiles.readNotes(segs.get(i).checkpoints());
        for (int j = notes.size() - 1; j >= 0 && last == null; j--) {
          LogFiles.NoteLine n = notes.get(j);
          if (n.torn() || n.note() == null) {
            continue; // a torn checkpoint line of a crash is cut when the file is reopened
          }
          try {
            last = Checkpoint.open(n.note(), own);
            latestNote = n.note();
          } catch (SignedNote.NoteException e) {
            throw new AuditStartException("checkpoint at " + n.file().getFileName() + ":" + n.line()
                + " does not verify with this node's key (" + e.getMessage()
                + "); run `kms audit verify`");
          }
          if (!last.origin().equals(o.origin())) {
            throw new AuditStartException("the last checkpoint is for origin '" + last.origin()
                + "', not '" + o.origin() + "'");
          }
        }
      }
      prev = AuditRecord.FIRST_PREV;
      String repair = null;
      for (int s = 0; s < segs.size(); s++) {
        LogFiles.Segment seg = segs.get(s);
        if (seg.first() != frontier.size()) {
          throw new AuditStartException("segment " + seg.file().getFileName() + " starts at "
              + seg.first() + " but " + frontier.size() + " records precede it; run `kms audit verify`");
        }
        byte[] all = Files.readAllBytes(seg.file());
        int start = 0;
        Instant firstTime = null;
        while (start < all.length) {
          int nl = LogFiles.indexOf(all, (byte) '\n', start);
          if (nl < 0) {
            if (s != segs.size() - 1) {
              throw new AuditStartException(seg.file().getFileName() + " ends in a partial line but"
                  + " is not the last segment; run `kms audit verify`");
            }
            repair = "cut a torn last line of " + (all.length - start) + " bytes from "
                + seg.file().getFileName() + " (unacknowledged write interrupted by a crash)";
            try (Storage.Appender a = storage.open(seg.file())) {
              a.truncate(start);
              a.force();
            }
            break;
          }
          long seq = AuditRecord.quickSeq(all, start, nl - start);
          if (seq != frontier.size()) {
            throw new AuditStartException("record at " + seg.file().getFileName() + " offset " + start
                + " is not record " + frontier.size() + "; run `kms audit verify`");
          }
          if (firstTime == null) {
            firstTime = firstTime(all, start, nl);
          }
          byte[] lh = Merkle.leafHash(all, start, nl - start);
          frontier.append(lh);
          prev = AuditRecord.link(lh);
          if (last != null && frontier.size() == last.size()
              && !java.util.Arrays.equals(frontier.root(), last.root())) {
            throw new AuditStartException("the records do not match the last checkpoint (size "
                + last.size() + "); the log was altered: run `kms audit verify`");
          }
          start = nl + 1;
        }
        if (s == segs.size() - 1) {
          segFirst = seg.first();
          segBytes = Math.min(all.length, start);
          segStarted = firstTime != null ? firstTime : clock.instant();
        }
      }
      nextSeq = frontier.size();
      if (last != null && last.size() > nextSeq) {
        throw new AuditStartException("the log holds " + nextSeq + " records but its last checkpoint"
            + " covers " + last.size() + ": records were removed; run `kms audit verify`");
      }
      if (last != null && last.size() == 0 && nextSeq == 0
          && !java.util.Arrays.equals(Merkle.emptyRoot(), last.root())) {
        throw new AuditStartException("the empty log does not match its checkpoint");
      }
      checkpointedSize = last == null ? -1 : last.size();
      durableSize = nextSeq;
      seg = storage.open(LogFiles.segmentFile(dir, segFirst));
      if (seg.size() != segBytes) {
        seg.truncate(segBytes);
        seg.force();
      }
      openCheckpointFile();
      if (repair != null) {
        LOG.warn("audit log repaired: {}", repair);
        internal.add(AuditEvent.builder("audit.repair", AuditEvent.Outcome.INFO)
            .time(clock.instant()).detail(repair).build());
      }
    } catch (IOException | RuntimeException e) {
      throw new AuditStartException("cannot open the audit log in " + dir + ": " + e, e);
    }
    nextCheckpointNanos = System.nanoTime();
  }

  private static Instant firstTime(byte[] all, int start, int nl) {
    try {
      byte[] line = java.util.Arrays.copyOfRange(all, start, nl);
      return AuditRecord.parse(line).event().time();
    } catch (AuditRecord.MalformedRecordException e) {
      return null;
    }
  }

  private void openCheckpointFile() throws IOException {
    cps = storage.open(LogFiles.segmentFile(o.dir(), segFirst).resolveSibling(
        LogFiles.base(segFirst) + ".checkpoints"));
    cutTornLine(cps);
  }

  /** Cuts a last line without its line feed (a checkpoint write interrupted by a crash). */
  private static void cutTornLine(Storage.Appender a) throws IOException {
    long size = a.size();
    long keep = size;
    ByteBuffer one = ByteBuffer.allocate(1);
    while (keep > 0) {
      one.clear();
      a.read(one, keep - 1);
      if (one.get(0) == '\n') {
        break;
      }
      keep--;
    }
    if (keep != size) {
      a.truncate(keep);
      a.force();
    }
  }

  private void fsyncDir() throws IOException {
    try (FileChannel d = FileChannel.open(o.dir(), StandardOpenOption.READ)) {
      d.force(true);
    }
  }

  // ------------------------------------------------------------------ API

  /**
   * Queues a record. The future completes with the written record once it is durable, or with
   * {@link AuditUnavailableException}. Never blocks.
   */
  public CompletableFuture<AuditRecord> append(AuditEvent event) {
    CompletableFuture<AuditRecord> f = new CompletableFuture<>();
    if (closing) {
      f.completeExceptionally(new AuditUnavailableException("audit log is closed"));
    } else if (!queue.offer(new Pending(event, f))) {
      f.completeExceptionally(new AuditUnavailableException("audit queue full ("
          + o.queueLimit() + " records waiting)"));
    }
    return f;
  }

  /** True while records are being made durable; false after a write/fsync failure until recovery. */
  public boolean healthy() {
    return healthy && !closing;
  }

  /** The latest signed checkpoint note, or null before the first. */
  public String latestCheckpoint() {
    return latestNote;
  }

  /** Records durable so far (the tree size). */
  public long size() {
    return durableSize;
  }

  public String origin() {
    return o.origin();
  }

  public VerifierKey verifierKey() {
    return VerifierKey.of(signer.name(), signer.publicKey());
  }

  /**
   * Writes what is queued, signs a final checkpoint and closes the files. Records appended after
   * this began are refused.
   */
  @Override
  public void close() {
    synchronized (closeLock) {
      if (closed) {
        return;
      }
      closing = true;
      boolean interrupted = false;
      while (writer.isAlive()) {
        try {
          writer.join();
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      closed = true;
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  // ------------------------------------------------------------------ writer thread

  private void run() {
    List<Pending> batch = new ArrayList<>();
    long delayNanos = o.batchDelay().toNanos();
    while (true) {
      Pending first;
      try {
        first = queue.poll(Math.min(50_000_000L, Math.max(1, untilHousekeeping())),
            TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        first = null; // only close() stops the writer
      }
      if (first == null) {
        if (closing && queue.isEmpty()) {
          break;
        }
        housekeeping();
        continue;
      }
      batch.add(first);
      queue.drainTo(batch, o.batchMaxRecords() - 1);
      if (delayNanos > 0 && batch.size() < o.batchMaxRecords()) {
        long deadline = System.nanoTime() + delayNanos;
        while (batch.size() < o.batchMaxRecords()) {
          long left = deadline - System.nanoTime();
          if (left <= 0) {
            break;
          }
          Pending p;
          try {
            p = queue.poll(left, TimeUnit.NANOSECONDS);
          } catch (InterruptedException e) {
            break;
          }
          if (p == null) {
            break;
          }
          batch.add(p);
          queue.drainTo(batch, o.batchMaxRecords() - batch.size());
        }
      }
      writeBatch(batch);
      batch.clear();
      housekeeping();
    }
    if (healthy && nextSeq > checkpointedSize) {
      checkpoint();
    }
    closeQuietly(seg);
    closeQuietly(cps);
    healthy = false;
  }

  private long untilHousekeeping() {
    long now = System.nanoTime();
    if (healthy && internal.isEmpty() && nextSeq <= checkpointedSize) {
      // Nothing to write or checkpoint until a record arrives, and its arrival ends the wait.
      // Without this, a checkpoint that was due with nothing new to sign made the writer poll
      // with a 1 ns timeout: a spin that took a whole core whenever the server was idle or
      // between requests (docs/performance.md, HTTP service benchmark).
      return Long.MAX_VALUE;
    }
    return healthy ? nextCheckpointNanos - now : nextProbeNanos - now;
  }

  private void housekeeping() {
    long now = System.nanoTime();
    if (!healthy || !internal.isEmpty()) {
      if (healthy || now - nextProbeNanos >= 0) {
        nextProbeNanos = now + PROBE_NANOS;
        writeBatch(new ArrayList<>()); // writes the internal records; probes the disk when unhealthy
      }
      return;
    }
    if (now - nextCheckpointNanos >= 0 && nextSeq > checkpointedSize) {
      checkpoint();
    }
  }

  private void writeBatch(List<Pending> batch) {
    try {
      if (!healthy) {
        reopen();
      }
      maybeRotate();
    } catch (IOException e) {
      fail(batch, e);
      return;
    }
    List<AuditEvent> events = new ArrayList<>(internal.size() + batch.size());
    if (faultSince != null) {
      events.add(AuditEvent.builder("audit.fault", AuditEvent.Outcome.FAULT)
          .time(clock.instant()).code("AUDIT_UNAVAILABLE")
          .detail("audit writes failed from " + AuditRecord.formatTime(faultSince) + " until now; "
              + refused + " records refused and their operations not released; cause: "
              + faultCause)
          .build());
    }
    events.addAll(internal);
    int internalCount = events.size();
    for (Pending p : batch) {
      events.add(p.event());
    }
    if (events.isEmpty()) {
      return;
    }
    Merkle.Frontier f = frontier.copy();
    String link = prev;
    long seq = nextSeq;
    AuditRecord[] written = new AuditRecord[events.size()];
    ByteArrayOutputStream buf = new ByteArrayOutputStream(events.size() * 320);
    for (int i = 0; i < events.size(); i++) {
      AuditEvent e = events.get(i);
      AuditRecord r = new AuditRecord(seq++, AuditRecord.formatTime(e.time()), o.node(), e, link);
      byte[] line = r.encode();
      byte[] lh = Merkle.leafHash(line);
      f.append(lh);
      link = AuditRecord.link(lh);
      buf.write(line, 0, line.length);
      buf.write('\n');
      written[i] = r;
    }
    byte[] bytes = buf.toByteArray();
    try {
      seg.append(ByteBuffer.wrap(bytes));
      seg.force();
    } catch (IOException e) {
      fail(batch, e);
      return;
    }
    frontier = f;
    prev = link;
    nextSeq = seq;
    segBytes += bytes.length;
    durableSize = seq;
    if (faultSince != null) {
      LOG.info("audit log writable again after a fault since {}; {} records were refused",
          faultSince, refused);
      faultSince = null;
      faultCause = null;
      refused = 0;
    }
    internal.clear();
    for (int i = 0; i < batch.size(); i++) {
      batch.get(i).done().complete(written[internalCount + i]);
    }
  }

  private void fail(List<Pending> batch, IOException e) {
    if (faultSince == null) {
      faultSince = clock.instant();
      LOG.error("audit log write failed; answering AUDIT_UNAVAILABLE until it recovers: {}",
          e.toString());
    }
    faultCause = e.getClass().getSimpleName();
    refused += batch.size();
    healthy = false;
    nextProbeNanos = System.nanoTime() + PROBE_NANOS;
    for (Pending p : batch) {
      p.done().completeExceptionally(new AuditUnavailableException("audit record not durable: "
          + e.getClass().getSimpleName()));
    }
    // Cut what the failed batch may have left, so the file holds only durable records.
    if (seg != null) {
      try {
        seg.truncate(segBytes);
      } catch (IOException ignored) {
        // retried by reopen()
      }
    }
    closeQuietly(seg);
    closeQuietly(cps);
    seg = null;
    cps = null;
  }

  /** After a fault: reopen the files and cut anything past the last durable byte. */
  private void reopen() throws IOException {
    closeQuietly(seg);
    closeQuietly(cps);
    seg = null;
    cps = null;
    Storage.Appender a = storage.open(LogFiles.segmentFile(o.dir(), segFirst));
    try {
      long size = a.size();
      if (size < segBytes) {
        throw new IOException("segment shorter (" + size + " bytes) than its durable size ("
            + segBytes + ")");
      }
      if (size > segBytes) {
        a.truncate(segBytes);
      }
      a.force();
    } catch (IOException e) {
      closeQuietly(a);
      throw e;
    }
    seg = a;
    openCheckpointFile();
    healthy = true;
  }

  private void maybeRotate() throws IOException {
    boolean full = segBytes >= o.segmentMaxBytes();
    boolean old = segBytes > 0
        && clock.instant().isAfter(segStarted.plus(o.segmentMaxAge()));
    if (!full && !old) {
      return;
    }
    if (nextSeq > checkpointedSize) {
      checkpoint(); // the old segment's last records are covered by a checkpoint in its own file
      if (!healthy) {
        throw new IOException("checkpoint before rotation failed");
      }
    }
    long newFirst = nextSeq;
    Path fr = LogFiles.segmentFile(o.dir(), newFirst)
        .resolveSibling(LogFiles.base(newFirst) + ".frontier");
    writeAtomically(fr, LogFiles.frontierText(frontier));
    Storage.Appender ns = storage.open(LogFiles.segmentFile(o.dir(), newFirst));
    fsyncDir();
    closeQuietly(seg);
    closeQuietly(cps);
    seg = ns;
    segFirst = newFirst;
    segBytes = 0;
    segStarted = clock.instant();
    openCheckpointFile();
    fsyncDir();
    internal.add(AuditEvent.builder("audit.rotate", AuditEvent.Outcome.INFO).time(clock.instant())
        .detail("segment " + LogFiles.base(newFirst) + " started (" + (full ? "size" : "age")
            + " limit)").build());
    applyRetention();
  }

  private void applyRetention() {
    if (o.retention().isZero()) {
      return;
    }
    Instant cutoff = clock.instant().minus(o.retention());
    try {
      List<LogFiles.Segment> segs = LogFiles.segments(o.dir());
      List<String> deleted = new ArrayList<>();
      // A segment may go when it is not the current one and the one after it (which carries the
      // frontier the verifier starts from) was started before the cut-off.
      for (int i = 0; i + 1 < segs.size(); i++) {
        LogFiles.Segment s = segs.get(i);
        LogFiles.Segment next = segs.get(i + 1);
        if (next.first() == segFirst || !Files.exists(next.frontier())
            || Files.getLastModifiedTime(s.file()).toInstant().isAfter(cutoff)) {
          break;
        }
        Files.deleteIfExists(s.checkpoints());
        Files.deleteIfExists(s.frontier());
        Files.delete(s.file());
        deleted.add(s.file().getFileName().toString());
      }
      if (!deleted.isEmpty()) {
        fsyncDir();
        internal.add(AuditEvent.builder("audit.retention", AuditEvent.Outcome.INFO)
            .time(clock.instant()).detail("deleted by retention: " + String.join(",", deleted))
            .build());
      }
    } catch (IOException e) {
      LOG.warn("audit retention could not delete old segments: {}", e.toString());
    }
  }

  private void writeAtomically(Path target, String text) throws IOException {
    Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
    try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE,
        StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
      ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
      while (b.hasRemaining()) {
        ch.write(b);
      }
      ch.force(true);
    }
    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  private void checkpoint() {
    nextCheckpointNanos = System.nanoTime() + o.checkpointInterval().toNanos();
    Checkpoint cp = new Checkpoint(o.origin(), nextSeq, frontier.root());
    String note;
    try {
      note = SignedNote.sign(cp.text(), signer);
    } catch (CheckpointSigner.SigningException | RuntimeException e) {
      if (!signingFailing) {
        signingFailing = true;
        LOG.error("audit checkpoint could not be signed: {}", e.getMessage());
        internal.add(AuditEvent.builder("audit.checkpoint", AuditEvent.Outcome.FAULT)
            .time(clock.instant()).code("CHECKPOINT_UNSIGNED")
            .detail("checkpoint signing failed: " + e.getMessage()).build());
      }
      return;
    }
    if (signingFailing) {
      signingFailing = false;
      internal.add(AuditEvent.builder("audit.checkpoint", AuditEvent.Outcome.INFO)
          .time(clock.instant()).detail("checkpoint signing works again").build());
    }
    try {
      cps.append(ByteBuffer.wrap(LogFiles.noteLine(note).getBytes(StandardCharsets.US_ASCII)));
      cps.force();
      writeAtomically(o.dir().resolve(LogFiles.LATEST), note);
    } catch (IOException e) {
      fail(List.of(), e);
      return;
    }
    latestNote = note;
    checkpointedSize = cp.size();
  }

  private static void closeQuietly(Storage.Appender a) {
    if (a != null) {
      try {
        a.close();
      } catch (IOException ignored) {
        // nothing more to lose: every acknowledged record was fsynced
      }
    }
  }

  @Override
  public String toString() {
    return "AuditLog[" + o.origin() + ", " + durableSize + " records]";
  }
}
