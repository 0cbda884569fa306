package io.imskms.core.bootstrap;

import io.imskms.hsm.KeyRef;
import io.imskms.protocol.Role;

/**
 * A session key (Ka, Kb or Km) recovered from a verified, unexpired B-TID, as an HSM session
 * object, with the principal the B-TID names.
 *
 * @param sharedName the name the key is shared under on this node (HsmSession#deriveShared), so
 *     that keys derived from it with a fixed context can be shared too; null if it is not
 * @param notAfterMs until when a key shared under a name derived from {@code sharedName} may be
 *     found (the B-TID's expiry)
 */
public record BootstrappedKey(Role role, String id, KeyRef sessionKey, byte[] sharedName,
    long notAfterMs) {}
