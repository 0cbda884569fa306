package io.imskms.hsm;

import java.util.Objects;

/**
 * An opaque reference to a key inside the HSM. It prints only its label and version: never a
 * handle, never a value. Long-term references name a token key by label and version and stay
 * valid across module re-initialisations (the adapter re-finds the key and checks its key check
 * value). Session references are bound to the {@link HsmSession} that created them and to the
 * module generation they were created in; a stale one is refused with a policy error instead of
 * silently reaching whatever key now has the same handle number.
 */
public final class KeyRef {
  /** Whether the key is a token object (long-term) or a per-request session object. */
  public enum Kind {
    LONG_TERM,
    SESSION
  }

  private final Kind kind;
  private final String label;
  private final int version;
  private final KeySpec spec;
  // Session objects only: which module generation and which HsmSession own the handle.
  final long generation;
  final long handle;
  final Object owner;
  /** Long-term keys only: the token label "label#vN", computed once (looked up on every use). */
  final String tokenLabel;

  private KeyRef(Kind kind, String label, int version, KeySpec spec, long generation, long handle,
      Object owner) {
    this.kind = kind;
    this.label = Objects.requireNonNull(label, "label");
    this.version = version;
    this.spec = Objects.requireNonNull(spec, "spec");
    this.generation = generation;
    this.handle = handle;
    this.owner = owner;
    this.tokenLabel = kind == Kind.LONG_TERM ? Pkcs11Hsm.id(label, version) : null;
  }

  static KeyRef longTerm(String label, int version, KeySpec spec) {
    return new KeyRef(Kind.LONG_TERM, label, version, spec, -1, -1, null);
  }

  static KeyRef session(String label, KeySpec spec, long generation, long handle, Object owner) {
    return new KeyRef(Kind.SESSION, label, 0, spec, generation, handle, owner);
  }

  public Kind kind() {
    return kind;
  }

  /** The key's label (long-term keys) or a description of where it came from (session keys). */
  public String label() {
    return label;
  }

  /** The long-term key's version (1, 2, ...); 0 for session keys. */
  public int version() {
    return version;
  }

  public KeySpec spec() {
    return spec;
  }

  @Override
  public String toString() {
    return kind == Kind.LONG_TERM
        ? "KeyRef[" + label + " v" + version + "]"
        : "KeyRef[session " + label + "]";
  }
}
