// Evaluates IAM requests with @cloud-copilot/iam-simulate (tests/integration/iam_evaluation.py).
// stdin: {"principals": {id: {"arn", "account", "policies": [document]}},
//         "requests": [{"principal", "action", "resource", "context", "resourcePolicy"?}]}
// stdout: one {"result", "errors"} per request, in order ("Allowed", "ImplicitlyDenied",
// "ExplicitlyDenied", or "Error" with the simulator's validation errors).
const { runSimulation } = require('@cloud-copilot/iam-simulate')

async function main() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  const results = []
  for (const request of input.requests) {
    const principal = input.principals[request.principal]
    const simulation = {
      identityPolicies: principal.policies.map((policy, index) => ({ name: `policy${index}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(request.resourcePolicy ? { resourcePolicy: request.resourcePolicy } : {}),
      request: {
        principal: principal.arn,
        action: request.action,
        resource: { resource: request.resource, accountId: principal.account },
        contextVariables: request.context,
      },
    }
    const answer = await runSimulation(simulation, {})
    if (answer.resultType === 'error') {
      results.push({ result: 'Error', errors: answer.errors })
    } else {
      results.push({ result: answer.overallResult, errors: null })
    }
  }
  process.stdout.write(JSON.stringify(results))
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error))
  process.exit(1)
})
