package io.imskms.api;

import io.imskms.hsm.Hsm;
import io.imskms.hsm.HsmSession;
import io.micrometer.core.instrument.Timer;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Times every call through the {@link Hsm} and each {@link HsmSession} it opens
 * ({@code kms_hsm_calls_seconds{call,outcome}}); arguments and results pass through untouched
 * and are never recorded. A dynamic proxy so that every adapter method is counted, including
 * ones added later.
 *
 * <p>Per adapter method, what the proxy needs is made once (about 20 calls per Figure 17
 * request): the call's name, its timer for the outcome {@code ok}, and the method made
 * accessible so that {@code Method.invoke} skips its access check (the interfaces and their
 * methods are public: nothing is opened that was not). A failed call looks its timer up by
 * outcome. {@code MeteredHsmBench} prices the proxy per call.
 */
final class MeteredHsm {
  private MeteredHsm() {}

  /** One adapter method: its meter name and its {@code ok} timer (null: not timed). */
  private record Call(String name, Timer ok) {}

  /** The calls of one wrapped adapter, per interface (both declare {@code close}). */
  private record Calls(ApiMetrics metrics, ConcurrentHashMap<Method, Call> hsm,
      ConcurrentHashMap<Method, Call> session) {}

  static Hsm wrap(Hsm hsm, ApiMetrics metrics) {
    Calls calls = new Calls(metrics, new ConcurrentHashMap<>(), new ConcurrentHashMap<>());
    return (Hsm) Proxy.newProxyInstance(Hsm.class.getClassLoader(), new Class<?>[] {Hsm.class},
        new Timing(hsm, calls, "", calls.hsm()));
  }

  private static final class Timing implements InvocationHandler {
    private final Object target;
    private final Calls calls;
    private final String prefix;
    private final ConcurrentHashMap<Method, Call> methods;

    Timing(Object target, Calls calls, String prefix, ConcurrentHashMap<Method, Call> methods) {
      this.target = target;
      this.calls = calls;
      this.prefix = prefix;
      this.methods = methods;
    }

    private Call call(Method m) {
      Call c = methods.get(m);
      return c != null ? c : methods.computeIfAbsent(m, x -> {
        x.setAccessible(true);
        String name = prefix + x.getName();
        boolean timed = !x.getName().equals("status") && !x.getName().equals("capabilities");
        return new Call(name, timed ? calls.metrics().hsmCallTimer(name, "ok") : null);
      });
    }

    @Override
    public Object invoke(Object proxy, Method m, Object[] args) throws Throwable {
      if (m.getDeclaringClass() == Object.class) {
        if (m.getName().equals("equals")) {
          return proxy == args[0];
        }
        if (m.getName().equals("hashCode")) {
          return System.identityHashCode(proxy);
        }
        return "MeteredHsm[" + target.getClass().getSimpleName() + "]";
      }
      Call call = call(m);
      long t0 = System.nanoTime();
      Throwable failure = null;
      try {
        Object result = m.invoke(target, args); // m is the key made accessible in call(m)
        if (result instanceof HsmSession) {
          return Proxy.newProxyInstance(HsmSession.class.getClassLoader(),
              new Class<?>[] {HsmSession.class},
              new Timing(result, calls, "session.", calls.session()));
        }
        return result;
      } catch (InvocationTargetException e) {
        failure = e.getCause();
        throw failure;
      } finally {
        if (call.ok() != null) {
          long nanos = System.nanoTime() - t0;
          if (failure == null) {
            call.ok().record(nanos, TimeUnit.NANOSECONDS);
          } else {
            calls.metrics().hsmCall(call.name(), ApiMetrics.outcomeOf(failure), nanos);
          }
        }
      }
    }
  }
}
