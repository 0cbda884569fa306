package io.imskms.architecture;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which Maven module a class comes from, by where it was loaded: {@code <module>/target/classes/}
 * inside the reactor, or {@code <module>-<version>.jar} (the reactor's own jar or the local
 * repository's). Packages do not tell: hsm-bench shares {@code io.imskms.hsm} with hsm-adapter.
 */
final class Modules {
  private static final Pattern CLASSES_DIR = Pattern.compile("/([a-z][a-z0-9-]*)/target/classes/");
  private static final Pattern JAR =
      Pattern.compile("/([a-z][a-z0-9-]*?)-\\d+\\.\\d+[^/]*\\.jar!/");

  private Modules() {}

  static Optional<String> of(JavaClass c) {
    return c.getSource().flatMap(s -> {
      String uri = s.getUri().toString();
      Matcher m = CLASSES_DIR.matcher(uri);
      if (m.find()) {
        return Optional.of(m.group(1));
      }
      m = JAR.matcher(uri);
      return m.find() ? Optional.of(m.group(1)) : Optional.empty();
    });
  }

  static DescribedPredicate<JavaClass> in(String module) {
    return DescribedPredicate.describe("in module " + module,
        c -> of(c).filter(module::equals).isPresent());
  }
}
