package io.imskms.hsm;

/**
 * A snapshot of the adapter's state, cheap to take (no PKCS#11 call).
 *
 * @param ready whether sessions can be opened now (module initialised, logged in, keys found),
 *     or will be as soon as a planned recycle in progress has finished: requests wait for it
 * @param generation the module generation; +1 at every re-initialisation or recycle
 * @param poolSize configured number of PKCS#11 sessions
 * @param sessionsInUse sessions currently borrowed
 * @param objectsCreatedSinceInit session objects created in the current module generation
 *     (since the last C_Initialize, recycle or recovery)
 * @param sessionObjectsLive session objects of the current generation that exist now or may:
 *     created, and neither destroyed (C_DestroyObject succeeded) nor gone with their session
 *     (C_CloseSession succeeded). 0 when no HSM session is open and nothing leaked; 0 after a
 *     recycle or recovery starts a new generation (C_Finalize destroys the old one's objects).
 * @param sharedKeys shared session keys findable now ({@link HsmSession#deriveShared}); they
 *     are among {@code sessionObjectsLive}
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
    long sessionObjectsLive,
    int sharedKeys,
    long recycles,
    long recoveries,
    String lastError) {}
