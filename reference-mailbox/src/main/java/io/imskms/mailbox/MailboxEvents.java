package io.imskms.mailbox;

import java.time.Duration;

/** What the mailbox reports as it works, for a demo or an audit trail. Never carries a secret. */
@FunctionalInterface
public interface MailboxEvents {
  /**
   * @param step the seed step, e.g. {@code "Fig 17 step 4"}
   * @param what what happened, for a person
   * @param took how long the step took
   */
  void step(String step, String what, Duration took);

  /** Reports nothing. */
  static MailboxEvents none() {
    return (step, what, took) -> { };
  }
}
