import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule, JwtService } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { AuthService } from '../../../application/auth/auth.service.js';
import { LOGIN_THROTTLE } from '../../../application/auth/login-throttle.port.js';
import { ACCESS_TOKENS } from '../../../application/ports/access-tokens.port.js';
import { PASSWORD_HASHER } from '../../../application/ports/password-hasher.port.js';
import { UsersService } from '../../../application/user/users.service.js';
import { JwtAccessTokens } from '../../../infrastructure/auth/jwt-access-tokens.js';
import { ScryptPasswordHasher } from '../../../infrastructure/auth/password-hasher.js';
import { PostgresLoginThrottle } from '../../../infrastructure/auth/postgres-login-throttle.js';
import { APP_CONFIG, type AppConfig } from '../../../infrastructure/config/app-config.js';
import { CONTROL_DATABASE, type ControlDatabase } from '../../../infrastructure/tenancy/control-database.js';
import { UsersController } from '../user/users.controller.js';
import { AuthController } from './auth.controller.js';
import { JwtAuthGuard } from './jwt-auth.guard.js';
import { JwtStrategy } from './jwt.strategy.js';
import { OperatorTokenGuard } from './operator-token.guard.js';
import { RolesGuard } from './roles.decorator.js';

/** Users, login and sign-up, and the guards every other route relies on (JWT globally, roles, operator). */
@Module({
  imports: [
    PassportModule,
    JwtModule.registerAsync({
      global: true,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        secret: config.secrets.jwtSecret,
        signOptions: { algorithm: 'HS256' },
        verifyOptions: { algorithms: ['HS256'] },
      }),
    }),
  ],
  controllers: [AuthController, UsersController],
  providers: [
    JwtStrategy,
    OperatorTokenGuard,
    RolesGuard,
    { provide: APP_GUARD, useClass: JwtAuthGuard },
    { provide: PASSWORD_HASHER, useFactory: () => new ScryptPasswordHasher() },
    {
      provide: ACCESS_TOKENS,
      inject: [JwtService, APP_CONFIG],
      useFactory: (jwt: JwtService, config: AppConfig) => new JwtAccessTokens(jwt, config.jwtTtlSeconds),
    },
    {
      provide: LOGIN_THROTTLE,
      inject: [CONTROL_DATABASE, APP_CONFIG],
      useFactory: (control: ControlDatabase, config: AppConfig) =>
        PostgresLoginThrottle.create(control.pool, config.login),
    },
    UsersService,
    AuthService,
  ],
  exports: [UsersService, PASSWORD_HASHER, OperatorTokenGuard, RolesGuard],
})
export class AuthModule {}
