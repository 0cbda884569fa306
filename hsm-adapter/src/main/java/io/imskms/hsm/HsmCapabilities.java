package io.imskms.hsm;

/**
 * What the token offers, detected once at start-up from C_GetMechanismList.
 *
 * @param tokenLabel the token's label
 * @param manufacturer the token's manufacturer id
 * @param model the token's model
 * @param sp800108CounterKdf whether the token offers CKM_SP800_108_COUNTER_KDF (PKCS#11 3.0)
 * @param sp800108Usable whether the adapter can drive it (needs a wrapper binding for its params)
 * @param kdf the KDF the adapter uses for {@link HsmSession#deriveKey}
 */
public record HsmCapabilities(
    String tokenLabel,
    String manufacturer,
    String model,
    boolean sp800108CounterKdf,
    boolean sp800108Usable,
    String kdf) {}
