package io.imskms.fuzz;

import net.jqwik.api.lifecycle.AroundPropertyHook;
import net.jqwik.api.lifecycle.PropagationMode;
import net.jqwik.api.lifecycle.PropertyAttributes;
import net.jqwik.api.lifecycle.PropertyExecutionResult;
import net.jqwik.api.lifecycle.PropertyExecutor;
import net.jqwik.api.lifecycle.PropertyLifecycleContext;

/**
 * Tries and seed of every fuzz property (jqwik), so that {@code bin/kms test} is bounded and
 * repeatable and a long run is one system property away (docs/assurance.md).
 *
 * <ul>
 *   <li>{@code @Property(tries = N)} is a property's budget in the normal run;
 *       {@code -Dkms.fuzz.scale=S} multiplies it (the long mode; {@code bin/kms mutation} runs with
 *       a scale below 1).
 *   <li>{@code -Dkms.fuzz.seed=X} sets the seed; by default {@link #DEFAULT_SEED}, so every normal
 *       run generates the same inputs; {@code -Dkms.fuzz.seed=random} lets jqwik draw one.
 * </ul>
 *
 * <p>Each property prints one line {@code fuzz: <property> tries=N checks=N seed=S status ms}, so
 * the seed of any run, including a failing one, can be replayed with {@code -Dkms.fuzz.seed=S}.
 * Register with {@code @AddLifecycleHook(FuzzBudget.class)} on the test class.
 */
public final class FuzzBudget implements AroundPropertyHook {
  /** The seed of the normal run. */
  public static final String DEFAULT_SEED = "20261128";

  @Override
  public PropagationMode propagateTo() {
    return PropagationMode.ALL_DESCENDANTS;
  }

  @Override
  public PropertyExecutionResult aroundProperty(PropertyLifecycleContext context,
      PropertyExecutor property) {
    PropertyAttributes attributes = context.attributes();
    int base = attributes.tries().orElse(1000);
    attributes.setTries(scaled(base));
    String seed = System.getProperty("kms.fuzz.seed", DEFAULT_SEED).trim();
    if (!seed.equalsIgnoreCase("random")) {
      attributes.setSeed(seed);
    }
    long start = System.nanoTime();
    PropertyExecutionResult result = property.execute();
    System.out.printf("fuzz: %s tries=%d checks=%d seed=%s %s %dms%n", context.extendedLabel(),
        result.countTries(), result.countChecks(), result.seed().orElse("?"), result.status(),
        (System.nanoTime() - start) / 1_000_000);
    return result;
  }

  /**
   * {@code base} times {@code kms.fuzz.scale} (a decimal: below 1 for mutation testing, where each
   * mutant re-runs the properties), at least 10, capped at Integer.MAX_VALUE.
   */
  static int scaled(int base) {
    double scale = Double.parseDouble(System.getProperty("kms.fuzz.scale", "1"));
    if (!(scale > 0)) {
      throw new IllegalArgumentException("kms.fuzz.scale must be positive");
    }
    long tries = Math.min(Integer.MAX_VALUE, Math.round(base * scale));
    return (int) Math.max(Math.min(base, 10), tries);
  }
}
