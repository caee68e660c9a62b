import BerthCLI
import Foundation

exit(await BerthCommand.run(Array(CommandLine.arguments.dropFirst())))
