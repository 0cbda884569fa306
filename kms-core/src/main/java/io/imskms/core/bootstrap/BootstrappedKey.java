package io.imskms.core.bootstrap;

import io.imskms.hsm.KeyRef;
import io.imskms.protocol.Role;

/**
 * A session key (Ka, Kb or Km) recovered from a verified, unexpired B-TID, as an HSM session
 * object, with the principal the B-TID names.
 */
public record BootstrappedKey(Role role, String id, KeyRef sessionKey) {}
