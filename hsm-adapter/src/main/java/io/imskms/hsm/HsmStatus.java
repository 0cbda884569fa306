package io.imskms.hsm;

/**
 * A snapshot of the adapter's state, cheap to take (no PKCS#11 call).
 *
 * @param ready whether sessions can be opened now (module initialised, logged in, keys found)
 * @param generation the module generation; +1 at every re-initialisation or recycle
 * @param poolSize configured number of PKCS#11 sessions
 * @param sessionsInUse sessions currently borrowed
 * @param objectsCreatedSinceInit session objects created since the last C_Initialize
 * @param recycles how many recycles have run
 * @param recoveries how many re-initialisations after a fault have succeeded
 * @param lastError the last fault's description (no secrets), or null
 */
public record HsmStatus(
    boolean ready,
    long generation,
    int poolSize,
    int sessionsInUse,
    long objectsCreatedSinceInit,
    long recycles,
    long recoveries,
    String lastError) {}
