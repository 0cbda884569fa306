package io.imskms.core.principals;

import io.imskms.core.records.MacedRecordStore;
import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmIntegrityException;
import io.imskms.hsm.HsmPolicyException;
import io.imskms.protocol.Wire;
import java.io.IOException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The revoked and re-enrolled principals, shared by every node that uses the token: private
 * token data objects {@value #OBJECT_LABEL} (chunks of at most 32 KiB, as many as the record
 * needs), MACed under the token key {@value #MAC_LABEL}{@code #v1} like the key lifecycle record
 * ({@link MacedRecordStore}; docs/architecture.md, "Devices").
 *
 * <p>Lookups ({@link #revoked}, {@link #generation}, {@link #check}) read an immutable snapshot in
 * memory: no HSM operation per request. {@link #refresh()} re-reads the token (a server calls it
 * every {@code core.keyPollSeconds}); {@link #revoke}, {@link #reinstate} and {@link #reenrol}
 * read the current record from the token, change it and write it back (the operator's commands).
 *
 * <p>Security guarantees: a record that does not verify, does not parse, went back to a lower
 * sequence, or was removed while its MAC key is in the token is refused
 * ({@link HsmIntegrityException}); a running node then keeps its last good snapshot, a starting
 * node does not start. Thread-safe.
 */
public final class PrincipalRegistry implements Principals {
  /** The data object's label. */
  public static final String OBJECT_LABEL = "kms-principals";
  /** The label (without version) of the HMAC key that authenticates the record. */
  public static final String MAC_LABEL = "kms-principals-mac";
  public static final String MAC_CONTEXT = "imskms-principals-v1";

  private final MacedRecordStore<PrincipalRecord> store;
  private final Object writeLock = new Object();
  private volatile PrincipalRecord current;

  private PrincipalRegistry(MacedRecordStore<PrincipalRecord> store, PrincipalRecord current) {
    this.store = store;
    this.current = current;
  }

  /** The MACed store of a principal record under {@code label} (tests use another label). */
  static MacedRecordStore<PrincipalRecord> store(Hsm hsm, String label) {
    return new MacedRecordStore<>(hsm, label, MAC_LABEL, MAC_CONTEXT,
        new MacedRecordStore.Codec<>() {
          @Override
          public PrincipalRecord decode(byte[] bytes) throws IOException {
            return PrincipalRecord.decode(bytes);
          }

          @Override
          public byte[] encode(PrincipalRecord doc) {
            return doc.encode();
          }

          @Override
          public long sequence(PrincipalRecord doc) {
            return doc.sequence();
          }
        }, PrincipalRecord.NONE);
  }

  /**
   * Reads the record from the token ({@link PrincipalRecord#NONE} if the token never had one).
   *
   * @throws HsmIntegrityException if it does not verify, does not parse or was removed
   * @throws HsmException if the token cannot be read
   */
  public static PrincipalRegistry load(Hsm hsm) throws HsmException {
    MacedRecordStore<PrincipalRecord> store = store(hsm, OBJECT_LABEL);
    return new PrincipalRegistry(store, store.read());
  }

  @Override
  public int generation(String id) {
    return current.entry(id).map(PrincipalRecord.Entry::generation).orElse(0);
  }

  @Override
  public boolean revoked(String id) {
    return current.entry(id).map(PrincipalRecord.Entry::revoked).orElse(false);
  }

  /** The snapshot in force. */
  public PrincipalRecord record() {
    return current;
  }

  /** The revoked principals, by identity. */
  public List<PrincipalRecord.Entry> revokedPrincipals() {
    return current.entries().values().stream().filter(PrincipalRecord.Entry::revoked).toList();
  }

  /** What one change did. */
  public record Change(PrincipalRecord.Entry before, PrincipalRecord.Entry after,
      boolean written) {}

  /**
   * Revokes {@code id} (normal form): from the moment every node has read the record, its
   * bootstrap and every request with a B-TID of it are refused with PRINCIPAL_REVOKED. Nothing is
   * written if it is already revoked ({@link Change#written()} false; the first reason stays).
   *
   * @param reason the operator's reason (1..200 printable characters), or null
   * @throws IllegalArgumentException if the reason is not acceptable
   */
  public Change revoke(String id, String reason) throws HsmException {
    Objects.requireNonNull(id, "id");
    if (reason != null) {
      PrincipalRecord.checkReason(reason);
    }
    return change(id, before -> before.revoked() ? null : new PrincipalRecord.Entry(id,
        before.generation(), Optional.of(now()), Optional.ofNullable(reason), now()));
  }

  /**
   * Lifts the revocation of {@code id}: its current credential (and its unexpired B-TIDs) work
   * again. To make a stolen device's credential useless for good, re-enrol instead.
   *
   * @throws HsmPolicyException if {@code id} is not revoked
   */
  public Change reinstate(String id) throws HsmException {
    Objects.requireNonNull(id, "id");
    return change(id, before -> {
      if (!before.revoked()) {
        throw new HsmPolicyException(id + " is not revoked");
      }
      return new PrincipalRecord.Entry(id, before.generation(), Optional.empty(),
          Optional.empty(), now());
    });
  }

  /**
   * Moves {@code id} to its next credential generation and lifts any revocation: the credential
   * enrolled next is the only one accepted; every earlier one, and every B-TID made from one, is
   * refused with PRINCIPAL_REVOKED.
   */
  public Change reenrol(String id) throws HsmException {
    Objects.requireNonNull(id, "id");
    return change(id, before -> {
      if (before.generation() == Wire.MAX_GENERATION) {
        throw new HsmPolicyException(id + " has reached the last credential generation");
      }
      return new PrincipalRecord.Entry(id, before.generation() + 1, Optional.empty(),
          Optional.empty(), now());
    });
  }

  private interface Edit {
    /** The new entry, or null for no change. */
    PrincipalRecord.Entry apply(PrincipalRecord.Entry before) throws HsmException;
  }

  private Change change(String id, Edit edit) throws HsmException {
    synchronized (writeLock) {
      PrincipalRecord doc = readChecked();
      PrincipalRecord.Entry before = doc.entry(id).orElse(new PrincipalRecord.Entry(id, 0,
          Optional.empty(), Optional.empty(), Instant.EPOCH));
      PrincipalRecord.Entry after = edit.apply(before);
      if (after == null) {
        current = doc;
        return new Change(before, before, false);
      }
      PrincipalRecord next = doc.with(after).successor();
      store.write(next);
      current = next;
      return new Change(before, after, true);
    }
  }

  /**
   * Re-reads the record from the token. On a failure the snapshot in force stays.
   *
   * @return the entry of every principal whose standing changed (one back at generation 0 and
   *     not revoked has an entry saying so), for the log and the audit trail
   * @throws HsmIntegrityException if the record does not verify, was removed or went back to a
   *     lower sequence
   * @throws HsmException if the token cannot be read
   */
  public List<PrincipalRecord.Entry> refresh() throws HsmException {
    synchronized (writeLock) {
      PrincipalRecord old = current;
      PrincipalRecord doc = readChecked();
      current = doc;
      if (doc == old) {
        return List.of(); // the store returns the same instance while the bytes are unchanged
      }
      List<PrincipalRecord.Entry> changes = new ArrayList<>();
      for (PrincipalRecord.Entry e : doc.entries().values()) {
        Optional<PrincipalRecord.Entry> b = old.entry(e.id());
        if (b.isEmpty() || b.get().revoked() != e.revoked()
            || b.get().generation() != e.generation()) {
          changes.add(e);
        }
      }
      for (PrincipalRecord.Entry b : old.entries().values()) {
        if (doc.entry(b.id()).isEmpty()) {
          changes.add(new PrincipalRecord.Entry(b.id(), 0, Optional.empty(), Optional.empty(),
              now()));
        }
      }
      return changes;
    }
  }

  private PrincipalRecord readChecked() throws HsmException {
    PrincipalRecord doc = store.read();
    if (doc.sequence() < current.sequence()) {
      throw new HsmIntegrityException("the principal record " + OBJECT_LABEL + " went back from"
          + " sequence " + current.sequence() + " to " + doc.sequence()
          + " (token files restored?); keeping the last good state");
    }
    return doc;
  }

  /** One line for the log and the audit trail, e.g. {@code sip:a@b revoked, generation 1}. */
  public static String describe(PrincipalRecord.Entry e) {
    return e.id() + (e.revoked() ? " revoked" : " accepted") + ", generation " + e.generation();
  }

  private static Instant now() {
    return Instant.now().truncatedTo(ChronoUnit.SECONDS);
  }

  @Override
  public String toString() {
    return "PrincipalRegistry[" + current + "]";
  }
}
