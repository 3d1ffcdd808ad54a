package io.bagpipe.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code bagpipe} command line. Each verb is a picocli subcommand in this
 * package; it loads configuration with {@link ConfigOptions} and calls into the
 * domain packages. Exit codes: 0 success, 1 failure of the work, 2 bad usage or
 * bad configuration.
 */
@Command(
    name = "bagpipe",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Train multiple-instance-learning models on whole-slide images with actors.",
    subcommands = {DemoCommand.class, TrainCommand.class, NodeCommand.class, LaunchCommand.class, KeysCommand.class, SynthCommand.class, BenchCommand.class,
        PatchCommand.class, PredictCommand.class, EvaluateCommand.class, ExportCommand.class, ReportCommand.class,
        FeaturesCommand.class, StatusCommand.class},
    commandListHeading = "%nCommands:%n",
    footer = {"", "Launcher verbs (./bagpipe only):", "  test   Build and run the test suite (./mvnw test with JDK 25)."})
public final class Main implements Runnable {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  public static void main(String[] args) {
    useCliLogging();
    System.exit(commandLine().execute(args));
  }

  /**
   * Points Logback at the CLI's configuration (quiet, {@code BAGPIPE_LOG_LEVEL}) before anything
   * logs, unless the user named one with {@code -Dlogback.configurationFile}. The jar carries no
   * {@code logback.xml}: an application that embeds Bagpipe configures its own logging.
   */
  static void useCliLogging() {
    if (System.getProperty("logback.configurationFile") == null) {
      System.setProperty("logback.configurationFile", "io/bagpipe/cli/logback.xml");
    }
  }

  /** The configured picocli tree; errors print one clear line instead of a stack trace. */
  public static CommandLine commandLine() {
    CommandLine cl = new CommandLine(new Main());
    cl.setExecutionExceptionHandler(
        (ex, cmd, parsed) -> {
          if (ex instanceof ConfigOptions.BadConfigException
              || ex instanceof com.typesafe.config.ConfigException) {
            cmd.getErr().println("bagpipe: bad configuration: " + ex.getMessage());
            return 2;
          }
          cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": " + describe(ex));
          if (System.getenv("BAGPIPE_DEBUG") != null) {
            ex.printStackTrace(cmd.getErr());
          } else {
            cmd.getErr().println("(set BAGPIPE_DEBUG=1 for the stack trace)");
          }
          return 1;
        });
    return cl;
  }

  private static String describe(Throwable ex) {
    String m = ex.getMessage();
    return m == null || m.isBlank() ? ex.getClass().getSimpleName() : m;
  }

  /** The version the build recorded ({@link io.bagpipe.api.Bagpipe#version}). */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {"bagpipe " + io.bagpipe.api.Bagpipe.version().orElse("(version not recorded: not built by Maven)")};
    }
  }
}
