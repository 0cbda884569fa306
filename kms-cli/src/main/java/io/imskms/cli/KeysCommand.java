package io.imskms.cli;

import io.imskms.api.config.ApiConfig;
import io.imskms.audit.AuditEvent;
import io.imskms.core.keys.KeyPurpose;
import io.imskms.core.keys.KeyRing;
import io.imskms.core.keys.KeyState;
import io.imskms.core.keys.KeyVersionInfo;
import io.imskms.core.keys.UnknownKeyVersionException;
import io.imskms.hsm.HsmException;
import io.imskms.hsm.HsmIntegrityException;
import io.imskms.hsm.HsmPolicyException;
import io.imskms.hsm.Pkcs11Hsm;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code kms keys ...}: the long-term keys and their lifecycle (docs/cli.md, docs/architecture.md
 * "Key lifecycle"). The lifecycle record lives in the token, so every node using the token sees a
 * change within {@code core.keyPollSeconds}. Each change is recorded in this host's CLI audit log
 * ({@link CliAudit}: {@code keys.rotate}, {@code keys.state}) before the command reports success;
 * each server also records what it observes (event {@code keys.state} in its own log).
 */
@Command(name = "keys", mixinStandardHelpOptions = true,
    description = "Inspect and rotate the long-term keys, set the state of a version, and back"
        + " them up or restore them under dual control.",
    subcommands = {KeysCommand.ListKeys.class, KeysCommand.Rotate.class,
        KeysCommand.SetState.class, KeysBackupCommand.Export.class,
        KeysBackupCommand.Import.class, KeysBackupCommand.NewComponent.class})
final class KeysCommand implements Callable<Integer> {
  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "name a subcommand: list, rotate, state,"
        + " export, import, new-component");
  }

  /** The purpose an operator names: as {@code keys list} prints it, or by its token label. */
  static KeyPurpose purpose(CommandSpec spec, String name) {
    for (KeyPurpose p : KeyPurpose.values()) {
      if (p.name().equalsIgnoreCase(name) || p.label().equals(name)) {
        return p;
      }
    }
    throw new ParameterException(spec.commandLine(), "unknown key purpose '" + name
        + "'; one of " + java.util.Arrays.toString(KeyPurpose.values()));
  }

  private static String time(Optional<Instant> t) {
    return t.map(Instant::toString).orElse("-");
  }

  static void print(CliContext ctx, List<KeyVersionInfo> keys) {
    print(ctx, keys, p -> Optional.empty());
  }

  /**
   * The table of {@code keys list}; {@code nextDue} gives the next rotation by age of a purpose
   * (shown on its active version's row), empty when none is configured.
   */
  static void print(CliContext ctx, List<KeyVersionInfo> keys,
      java.util.function.Function<KeyPurpose, Optional<Instant>> nextDue) {
    String format = "%-16s %7s  %-12s %-12s %-16s  %-20s %-20s %-20s %-20s%n";
    ctx.out().printf(format, "LABEL", "VERSION", "PURPOSE", "STATE", "KCV", "CREATED",
        "ACTIVATED", "RETIRED", "NEXT-ROTATION");
    for (KeyVersionInfo k : keys) {
      ctx.out().printf(format, k.label(), k.version(), k.purpose(), k.state().cliName(),
          k.kcv(), time(k.created()), time(k.activated()), time(k.retired()),
          k.state() == KeyState.ACTIVE ? time(nextDue.apply(k.purpose())) : "-");
    }
  }

  /** The next rotation by age of each purpose with a configured maximum age. */
  static java.util.function.Function<KeyPurpose, Optional<Instant>> nextDue(ApiConfig cfg,
      KeyRing ring) {
    return p -> cfg.core().rotationDays().maxAge(p).flatMap(a -> ring.nextRotationDue(p, a));
  }

  /** One change of the key ring, made by {@link #change}; it fills its audit record. */
  interface RingChange {
    void apply(ApiConfig cfg, KeyRing ring, AuditEvent.Builder record) throws Exception;
  }

  /**
   * Loads the key ring of the configured token and applies {@code change} to it, recorded as
   * {@code event} in the CLI audit log (opened first: no record, no change): a change the token
   * or the lifecycle rules refuse is a failure (exit 1, recorded as refused), an unusable HSM
   * exit 3.
   */
  static int change(CliContext ctx, ConfigOption config, String event, RingChange change)
      throws Exception {
    ApiConfig cfg = config.load(ctx);
    try (Pkcs11Hsm hsm = HsmAccess.open(cfg, ctx)) {
      CliAudit.step(cfg, hsm, ctx, event, rec -> {
        change.apply(cfg, KeyRing.load(hsm), rec);
        return null;
      });
    } catch (UnknownKeyVersionException | HsmPolicyException | HsmIntegrityException e) {
      throw new CliException(ExitCodes.FAILURE, e.getMessage(), e);
    } catch (HsmException e) {
      throw HsmAccess.unavailable(cfg, e);
    }
    ctx.out().flush();
    return ExitCodes.OK;
  }

  /** Writes the key manifest if one is configured (a rotation adds a key to it). */
  static void updateManifest(CliContext ctx, ApiConfig cfg, KeyRing ring) throws CliException {
    String manifest = cfg.core().keyManifest();
    if (manifest.isBlank()) {
      ctx.progress("core.keyManifest is not configured: no manifest updated");
      return;
    }
    try {
      ring.writeManifest(Path.of(manifest));
    } catch (IOException e) {
      throw new CliException(ExitCodes.FAILURE, "manifest " + manifest + " not updated: "
          + e.getMessage());
    }
    ctx.progress("key manifest updated: " + manifest + " (copy it to every node)");
  }

  /** {@code kms keys list}. */
  @Command(name = "list", mixinStandardHelpOptions = true,
      description = {
            "List every long-term key version in the token: label, version, purpose (as " +
            "keys rotate and keys state take it), state (active = " +
            "used for new messages; decrypt-only = accepted in messages that name it; retired " +
            "= refused with KEY_RETIRED), key check value (computed in the HSM; reveals " +
            "nothing about the key), and when it was created, activated (for a staged " +
            "rotation: when it will be) and retired (UTC), and on the active row the next " +
            "rotation by age (core.rotationDays.*: kms keys rotate --due performs it; '-' " +
            "when no maximum age is configured). Times are '-' when unknown (keys " +
            "made before lifecycle records existed)."})
  static final class ListKeys implements Callable<Integer> {
    private final CliContext ctx;

    @Mixin
    ConfigOption config;

    ListKeys(CliContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
      ApiConfig cfg = config.load(ctx);
      List<KeyVersionInfo> keys;
      java.util.function.Function<KeyPurpose, Optional<Instant>> due;
      try (Pkcs11Hsm hsm = HsmAccess.open(cfg, ctx)) {
        KeyRing ring = KeyRing.load(hsm);
        keys = ring.describe();
        java.util.Map<KeyPurpose, Optional<Instant>> byPurpose =
            new java.util.EnumMap<>(KeyPurpose.class);
        for (KeyPurpose p : KeyPurpose.values()) {
          byPurpose.put(p, nextDue(cfg, ring).apply(p));
        }
        due = byPurpose::get;
      } catch (HsmException e) {
        throw new CliException(ExitCodes.HSM_UNAVAILABLE, "cannot load the long-term keys of"
            + " token '" + cfg.hsm().tokenLabel() + "' (run bin/kms token init?): "
            + e.getMessage(), e);
      }
      print(ctx, keys, due);
      ctx.out().flush();
      return ExitCodes.OK;
    }
  }

  /** {@code kms keys rotate PURPOSE} and {@code kms keys rotate --due}. */
  @Command(name = "rotate", mixinStandardHelpOptions = true,
      description = {
            "Generate the next version of PURPOSE in the token, decrypt-only at first; it " +
            "becomes active (and the version active until then decrypt-only) after " +
            "core.keyStagingSeconds, by which time every node has read it (nodes poll every " +
            "core.keyPollSeconds). Updates the key manifest when one is configured. Refused " +
            "while a rotation of PURPOSE is still staged.",
            "--due instead of PURPOSE: rotate, in the same way, every purpose whose active " +
            "version has reached its maximum age (core.rotationDays.*, 0 = never); prints " +
            "the next due date of the others. Meant for a timer on one host " +
            "(docs/operations.md); a purpose another run has just rotated is left alone."})
  static final class Rotate implements Callable<Integer> {
    private final CliContext ctx;

    @Spec
    CommandSpec spec;

    @Mixin
    ConfigOption config;

    @Parameters(index = "0", paramLabel = "PURPOSE", arity = "0..1",
        description = "CRED_ROOT, BTID_MAC, TICKET_ROOT or MEDIA_ROOT (or the token label)")
    String purpose;

    @picocli.CommandLine.Option(names = "--due",
        description = "rotate every purpose whose active version reached core.rotationDays.*")
    boolean due;

    Rotate(CliContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
      if (due == (purpose != null)) {
        throw new ParameterException(spec.commandLine(), "name one PURPOSE, or --due");
      }
      if (due) {
        return rotateDue();
      }
      KeyPurpose p = purpose(spec, purpose);
      CliException[] manifestFailure = new CliException[1];
      int code = change(ctx, config, "keys.rotate", (cfg, ring, rec) -> {
        rec.detail("rotate " + p.label());
        KeyVersionInfo made = ring.rotate(p,
            Duration.ofSeconds(cfg.core().keyStagingSeconds()));
        rec.keyVersions(p.label() + ":" + made.version()).detail(p.id(made.version())
            + " generated in the token (kcv " + made.kcv() + "), decrypt-only; active at "
            + time(made.activated()));
        print(ctx, List.of(made));
        ctx.progress(p.id(made.version()) + " generated in the token (kcv " + made.kcv()
            + "); it becomes active at " + time(made.activated()) + " on every node");
        try {
          updateManifest(ctx, cfg, ring);
        } catch (CliException e) {
          // The key exists now: record the rotation as done, then report the manifest.
          rec.detail(p.id(made.version()) + " generated in the token (kcv " + made.kcv()
              + "), decrypt-only; active at " + time(made.activated())
              + "; key manifest NOT updated");
          manifestFailure[0] = e;
        }
      });
      if (manifestFailure[0] != null) {
        throw manifestFailure[0];
      }
      return code;
    }

    /**
     * {@code kms keys rotate --due}: one {@code keys.rotate} record per rotation made; nothing is
     * recorded when nothing was due.
     */
    private int rotateDue() throws Exception {
      ApiConfig cfg = config.load(ctx);
      Duration staging = Duration.ofSeconds(cfg.core().keyStagingSeconds());
      int rotated = 0;
      try (Pkcs11Hsm hsm = HsmAccess.open(cfg, ctx)) {
        KeyRing ring = KeyRing.load(hsm);
        for (KeyPurpose p : KeyPurpose.values()) {
          Optional<Duration> maxAge = cfg.core().rotationDays().maxAge(p);
          if (maxAge.isEmpty()) {
            continue;
          }
          Optional<Instant> next = ring.nextRotationDue(p, maxAge.get());
          if (next.isEmpty() || next.get().isAfter(Instant.now())) {
            ctx.out().println(p + ": not due; next rotation by age at " + time(next)
                + " (maximum age " + maxAge.get().toDays() + " days)");
            continue;
          }
          Optional<KeyVersionInfo> made = CliAudit.step(cfg, hsm, ctx, "keys.rotate", rec -> {
            rec.detail("rotate " + p.label() + " by age (maximum " + maxAge.get().toDays()
                + " days, due " + next.get() + ")");
            Optional<KeyVersionInfo> m = ring.rotateIfDue(p, maxAge.get(), staging);
            if (m.isPresent()) {
              rec.keyVersions(p.label() + ":" + m.get().version()).detail(p.id(m.get().version())
                  + " generated in the token (kcv " + m.get().kcv() + ") by age (maximum "
                  + maxAge.get().toDays() + " days), decrypt-only; active at "
                  + time(m.get().activated()));
            } else {
              rec.detail(p.label() + " not rotated: another run rotated it first");
            }
            return m;
          });
          if (made.isPresent()) {
            rotated++;
            ctx.out().println(p + ": rotated by age: " + p.id(made.get().version())
                + " (kcv " + made.get().kcv() + ") active at " + time(made.get().activated()));
          } else {
            ctx.out().println(p + ": another run rotated it first");
          }
        }
        if (rotated > 0) {
          updateManifest(ctx, cfg, ring);
        }
      } catch (HsmPolicyException | HsmIntegrityException e) {
        throw new CliException(ExitCodes.FAILURE, e.getMessage(), e);
      } catch (HsmException e) {
        throw HsmAccess.unavailable(cfg, e);
      }
      if (rotated == 0 && KeyPurpose.values().length > 0
          && java.util.Arrays.stream(KeyPurpose.values())
              .allMatch(p -> cfg.core().rotationDays().maxAge(p).isEmpty())) {
        ctx.progress("no maximum age configured (core.rotationDays.*): nothing to rotate by age");
      }
      ctx.out().flush();
      return ExitCodes.OK;
    }
  }

  /** {@code kms keys state PURPOSE VERSION STATE}. */
  @Command(name = "state", mixinStandardHelpOptions = true,
      description = {
            "Set the state of one version. active: a decrypt-only version becomes active " +
            "(at once if it has existed for core.keyStagingSeconds, else when it has) and " +
            "the active one decrypt-only. decrypt-only: not the active version; cancels a " +
            "staged activation. retired: not the active version; final: every message that " +
            "names the version is refused with KEY_RETIRED from then on (retiring a " +
            "CRED_ROOT version revokes every credential enrolled under it)."})
  static final class SetState implements Callable<Integer> {
    private final CliContext ctx;

    @Spec
    CommandSpec spec;

    @Mixin
    ConfigOption config;

    @Parameters(index = "0", paramLabel = "PURPOSE",
        description = "CRED_ROOT, BTID_MAC, TICKET_ROOT or MEDIA_ROOT (or the token label)")
    String purpose;

    @Parameters(index = "1", paramLabel = "VERSION", description = "the version, 1..9999")
    int version;

    @Parameters(index = "2", paramLabel = "STATE",
        description = "active, decrypt-only or retired")
    String state;

    SetState(CliContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public Integer call() throws Exception {
      KeyPurpose p = purpose(spec, purpose);
      KeyState to = KeyState.ofCliName(state.toLowerCase(Locale.ROOT)).orElseThrow(() ->
          new ParameterException(spec.commandLine(), "unknown state '" + state
              + "'; one of active, decrypt-only, retired"));
      if (version < 1 || version > 9999) {
        throw new ParameterException(spec.commandLine(), "VERSION must be 1..9999");
      }
      return change(ctx, config, "keys.state", (cfg, ring, rec) -> {
        rec.keyVersions(p.label() + ":" + version).detail(p.id(version) + " set to "
            + to.cliName());
        KeyVersionInfo now = ring.setState(p, version, to,
            Duration.ofSeconds(cfg.core().keyStagingSeconds()));
        rec.detail(p.id(version) + " set to " + to.cliName() + ": now " + now.state().cliName()
            + (to == KeyState.ACTIVE && now.state() != KeyState.ACTIVE
                ? ", active at " + time(now.activated()) : ""));
        print(ctx, List.of(now));
        if (to == KeyState.ACTIVE && now.state() != KeyState.ACTIVE) {
          ctx.progress(p.id(version) + " becomes active at " + time(now.activated())
              + " on every node");
        }
      });
    }
  }
}
