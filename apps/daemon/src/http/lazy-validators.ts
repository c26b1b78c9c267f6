import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

type Factories = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;
type ValidatorFactory = NonNullable<Factories['buildValidator']>;
type SerializerFactory = NonNullable<Factories['buildSerializer']>;
type Validate = ((data: unknown) => unknown) & { errors?: unknown };

/** A package fastify itself depends on, resolved from fastify's own location (pnpm keeps them apart). */
function fastifyDependency<T>(name: string): T {
  const fastifyRequire = createRequire(createRequire(import.meta.url).resolve('fastify'));
  return fastifyRequire(name) as T;
}

/**
 * fastify's own validator factory (@fastify/ajv-compiler), with each route's body schema
 * compiled on the route's first request instead of at `ready()`: Ajv, its formats and the
 * compiled validators cost ~4 MB that an idle berthd never uses. Validation itself is
 * unchanged (same Ajv, same options, same `errors`); a broken schema would show up as a
 * 500 on that route's first call rather than at start (the schemas are tested).
 */
export const lazyValidatorFactory: ValidatorFactory = (externalSchemas, ajvServerOption) => {
  let compilerFor: ReturnType<ValidatorFactory> | undefined;
  const compiler = (): ReturnType<ValidatorFactory> =>
    (compilerFor ??= fastifyDependency<() => ValidatorFactory>('@fastify/ajv-compiler')()(externalSchemas, ajvServerOption));
  return (routeSchema) => {
    let compiled: Validate | undefined;
    const validate: Validate = (data) => {
      compiled ??= compiler()(routeSchema) as Validate;
      const result = compiled(data);
      validate.errors = compiled.errors;
      return result;
    };
    return validate as ReturnType<ReturnType<ValidatorFactory>>;
  };
};

/**
 * fastify's response-schema serializer factory, loaded only if a route ever declares a
 * response schema (berthd's do not): merely building the default one loads Ajv.
 */
export const lazySerializerFactory: SerializerFactory = (externalSchemas, serializerOpts) => {
  let compilerFor: ReturnType<SerializerFactory> | undefined;
  const compiler = (): ReturnType<SerializerFactory> =>
    (compilerFor ??= fastifyDependency<() => SerializerFactory>('@fastify/fast-json-stringify-compiler')()(externalSchemas, serializerOpts));
  return (routeSchema) => {
    let compiled: ((data: unknown) => string) | undefined;
    return (data: unknown) => (compiled ??= compiler()(routeSchema) as (data: unknown) => string)(data);
  };
};
