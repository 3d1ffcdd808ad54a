package io.bagpipe.cli;

import io.bagpipe.report.RunReport;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code bagpipe report RUN_DIR}: writes {@code RUN_DIR/report.html} and {@code RUN_DIR/report/*.png}. */
@Command(name = "report", mixinStandardHelpOptions = true,
    description = "Write a self-contained HTML report (and PNG plots) of a run directory.")
final class ReportCommand implements Callable<Integer> {

  @Parameters(index = "0", paramLabel = "RUN_DIR", description = "The run directory (bagpipe.train.run-dir).")
  Path runDir;

  @Override
  public Integer call() throws Exception {
    System.out.println("wrote " + RunReport.write(runDir).toAbsolutePath());
    return 0;
  }
}
