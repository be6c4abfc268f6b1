// Compile-time assertions: each `Expect<...>` fails to type-check unless its argument is `true`.

/** Whether X and Y are the same type (not merely assignable one way). */
export type Equal<X, Y> =
  (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;

export type Expect<T extends true> = T;

export type IsAny<T> = 0 extends 1 & T ? true : false;

/** Whether `any` hides anywhere in T (its properties, elements, union members). */
export type HasAny<T, Depth extends unknown[] = []> =
  IsAny<T> extends true
    ? true
    : Depth['length'] extends 6
      ? false
      : T extends Date | string | number | boolean | null | undefined | void
        ? false
        : T extends AsyncIterable<infer Item>
          ? HasAny<Item, [...Depth, 1]>
          : T extends object
            ? true extends { [K in keyof T]-?: HasAny<T[K], [...Depth, 1]> }[keyof T]
              ? true
              : false
            : false;
