import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

type ValidatorFactory = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']>;
type RouteCompiler = ReturnType<ValidatorFactory>;
type Validate = ((data: unknown) => unknown) & { errors?: unknown };

/**
 * fastify's own validator factory (@fastify/ajv-compiler), with each route's body schema
 * compiled on the route's first request instead of at `ready()`: the Ajv instance and the
 * compiled validators cost ~4 MB that an idle berthd never uses. Validation itself is
 * unchanged (same Ajv, same options, same `errors`); a broken schema now shows up as a
 * 500 on that route's first call rather than at start (the schemas are tested).
 */
export const lazyValidatorFactory: ValidatorFactory = (externalSchemas, ajvServerOption) => {
  let compilerFor: RouteCompiler | undefined;
  const compiler = (): RouteCompiler => {
    if (!compilerFor) {
      const fastifyRequire = createRequire(createRequire(import.meta.url).resolve('fastify'));
      const selector = fastifyRequire('@fastify/ajv-compiler') as () => ValidatorFactory;
      compilerFor = selector()(externalSchemas, ajvServerOption);
    }
    return compilerFor;
  };
  return (routeSchema) => {
    let compiled: Validate | undefined;
    const validate: Validate = (data) => {
      compiled ??= compiler()(routeSchema) as Validate;
      const result = compiled(data);
      validate.errors = compiled.errors;
      return result;
    };
    return validate as ReturnType<RouteCompiler>;
  };
};
